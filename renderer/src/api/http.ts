// TaskloopApi over the headless server (`taskloop serve`): same-origin fetch for operations, one
// WebSocket at /api/events for snapshots, event batches and logs. The server authenticated the
// page once (?token= then a cookie), so requests only need to carry cookies.
import type { TaskloopApi } from '../../../common/api'
import type { EngineEvent, ErrorCode, LogLine, Snapshot } from '../../../common/types'
import { TaskloopError } from '../../../common/types'
import type { ClientMessage, ServerMessage } from '../../../common/wire'

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'invalid',
  404: 'not-found',
  409: 'conflict',
  429: 'overloaded',
  503: 'shutting-down',
}

/** Reconnect delays: quick at first, then at most every 5 s. */
export const backoffMs = (attempt: number): number => Math.min(5000, 250 * 2 ** attempt)

export interface HttpApiOptions {
  /** Origin of the server; defaults to the page's. */
  base?: string
  WebSocket?: typeof WebSocket
  fetch?: typeof fetch
}

export function httpApi(options: HttpApiOptions = {}): TaskloopApi {
  // Typed without the DOM lib: this module is also driven from Node by a fault test (tests/faults/ws-drop).
  const base = options.base ?? (globalThis as unknown as { location: { origin: string } }).location.origin
  const doFetch = options.fetch ?? fetch.bind(globalThis)
  const Socket = options.WebSocket ?? WebSocket

  async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response
    try {
      res = await doFetch(base + path, {
        method,
        credentials: 'same-origin',
        // The server takes a change only when declared JSON (a cross-site form cannot declare it), body or not.
        headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      })
    } catch (e) {
      throw new TaskloopError('internal', `server unreachable: ${e instanceof Error ? e.message : String(e)}`)
    }
    const text = await res.text()
    let data: unknown
    try {
      data = text ? JSON.parse(text) : undefined
    } catch {
      // Not ours (a proxy's error page, say): the status below still tells what happened.
      data = undefined
    }
    if (!res.ok) {
      const err = (data ?? {}) as { code?: ErrorCode; error?: string; path?: string }
      throw new TaskloopError(
        err.code ?? STATUS_CODES[res.status] ?? 'internal',
        err.error ?? `${method} ${path}: HTTP ${res.status}`,
        err.path,
      )
    }
    return data as T
  }

  // One socket shared by every subscriber, open while anyone listens.
  const eventListeners = new Set<(event: EngineEvent) => void>()
  const logListeners = new Map<string, Set<(lines: LogLine[]) => void>>()
  let snapshotWaiters: Array<{ resolve: (s: Snapshot) => void; reject: (e: Error) => void }> = []
  let socket: WebSocket | null = null
  let attempt = 0
  let retryTimer: ReturnType<typeof setTimeout> | null = null

  const wanted = (): boolean => eventListeners.size > 0 || logListeners.size > 0

  function send(message: ClientMessage): boolean {
    if (socket?.readyState !== Socket.OPEN) return false
    socket.send(JSON.stringify(message))
    return true
  }

  function onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'snapshot':
        for (const waiter of snapshotWaiters) waiter.resolve(message)
        snapshotWaiters = []
        for (const listener of eventListeners) listener(message)
        break
      case 'batch':
        for (const listener of eventListeners) listener(message)
        break
      case 'log':
        for (const listener of logListeners.get(message.id) ?? []) listener(message.lines)
        break
      case 'error':
        console.error('taskloop server:', message.error)
        break
    }
  }

  function connect(): void {
    if (socket || !wanted()) return
    const ws = new Socket(`${base.replace(/^http/, 'ws')}/api/events`)
    socket = ws
    ws.onopen = () => {
      attempt = 0
      // The server starts every connection with a snapshot; logs must be asked for again.
      for (const id of logListeners.keys()) send({ type: 'watch-log', id })
    }
    ws.onmessage = (e) => onMessage(JSON.parse(String(e.data)) as ServerMessage)
    ws.onclose = () => {
      for (const waiter of snapshotWaiters) waiter.reject(new TaskloopError('internal', 'connection to the server lost'))
      snapshotWaiters = []
      if (socket !== ws) return
      socket = null
      if (!wanted()) return
      retryTimer = setTimeout(() => {
        retryTimer = null
        connect()
      }, backoffMs(attempt++))
    }
  }

  function disconnectIfIdle(): void {
    if (wanted()) return
    if (retryTimer) clearTimeout(retryTimer)
    retryTimer = null
    const ws = socket
    socket = null
    ws?.close()
  }

  return {
    submit: (spec) => request('POST', '/api/tasks', spec),
    async list(query = {}) {
      const params = new URLSearchParams()
      if (query.state) params.set('state', query.state)
      if (query.limit !== undefined) params.set('limit', String(query.limit))
      const qs = params.toString() ? `?${params}` : ''
      return (await request<{ tasks: Awaited<ReturnType<TaskloopApi['list']>> }>('GET', `/api/tasks${qs}`)).tasks
    },
    async history(query = {}) {
      const params = new URLSearchParams()
      if (query.state) params.set('state', query.state)
      if (query.before !== undefined) params.set('before', query.before)
      if (query.limit !== undefined) params.set('limit', String(query.limit))
      const qs = params.toString() ? `?${params}` : ''
      return (await request<{ tasks: Awaited<ReturnType<TaskloopApi['history']>> }>('GET', `/api/history${qs}`)).tasks
    },
    get: (id) => request('GET', `/api/tasks/${encodeURIComponent(id)}`),
    cancel: (id) => request('POST', `/api/tasks/${encodeURIComponent(id)}/cancel`),
    retry: (id) => request('POST', `/api/tasks/${encodeURIComponent(id)}/retry`),
    cancelAll: () => request('POST', '/api/cancel-all'),
    stats: () => request('GET', '/api/stats'),
    async setLimits(limits) {
      return (await request<{ limits: Awaited<ReturnType<TaskloopApi['setLimits']>> }>('POST', '/api/limits', { limits }))
        .limits
    },
    batch: (id) => request('GET', `/api/batches/${encodeURIComponent(id)}`),
    pause: () => request('POST', '/api/pause'),
    resume: () => request('POST', '/api/resume'),
    async setGroupLimit(group, limit) {
      return (await request<{ groupLimits: Record<string, number> }>('POST', '/api/group-limits', { group, limit })).groupLimits
    },
    snapshot() {
      // On a live socket, a resync brings the snapshot in order with the batches around it.
      if (send({ type: 'resync' })) return new Promise((resolve, reject) => snapshotWaiters.push({ resolve, reject }))
      return request('GET', '/api/snapshot')
    },
    subscribe(listener) {
      eventListeners.add(listener)
      if (socket?.readyState === Socket.OPEN) send({ type: 'resync' })
      else connect()
      return () => {
        eventListeners.delete(listener)
        disconnectIfIdle()
      }
    },
    subscribeLog(id, listener) {
      let listeners = logListeners.get(id)
      if (!listeners) {
        logListeners.set(id, (listeners = new Set()))
        send({ type: 'watch-log', id })
      }
      listeners.add(listener)
      connect()
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0) {
          logListeners.delete(id)
          send({ type: 'unwatch-log', id })
        }
        disconnectIfIdle()
      }
    },
    quit: () => request('POST', '/api/quit'),
  }
}
