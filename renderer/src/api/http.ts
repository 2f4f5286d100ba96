// TaskloopApi over the headless server (`taskloop serve`): same-origin fetch for operations, one
// WebSocket at /api/events for snapshots, event batches and logs, in the compact form
// (common/wire.ts: only what changed, strings by number, snapshots paged, compressed by the
// browser's permessage-deflate), decoded back into plain events here. The server authenticated
// the page once (?token= then a cookie), so requests only need to carry cookies.
import type { TaskloopApi } from '../../../common/api'
import { OPERATIONS, proxyOperations, type OperationName } from '../../../common/operations'
import type { EngineEvent, ErrorCode, LogLine, Snapshot } from '../../../common/types'
import { TaskloopError } from '../../../common/types'
import { COMPACT_PROTOCOL, WireDecoder } from '../../../common/wire'
import type { ClientMessage, CompactMessage, ServerMessage } from '../../../common/wire'

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'invalid',
  404: 'not-found',
  409: 'conflict',
  429: 'overloaded',
  503: 'shutting-down',
}

/** Runs `fn` once the next frame is painted (at the latest after 100 ms: a hidden tab paints no frames). */
function afterPaint(fn: () => void): void {
  let done = false
  const go = (): void => {
    if (done) return
    done = true
    fn()
  }
  const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => unknown }).requestAnimationFrame
  raf?.(() => setTimeout(go, 0))
  setTimeout(go, 100)
}

/**
 * Runs `fn` soon, after the browser had a chance to handle input and paint (a macrotask, without
 * setTimeout's 4 ms clamp).
 */
function soon(fn: () => void): void {
  type Channel = { port1: { onmessage: (() => void) | null; close(): void }; port2: { postMessage(message: unknown): void } }
  const g = globalThis as unknown as { setImmediate?: (cb: () => void) => unknown; MessageChannel?: new () => Channel }
  if (g.setImmediate) return void g.setImmediate(fn)
  if (!g.MessageChannel) return void setTimeout(fn, 0)
  const channel = new g.MessageChannel()
  channel.port1.onmessage = () => {
    channel.port1.close()
    fn()
  }
  channel.port2.postMessage(null)
}

/** Reconnect delays: quick at first, then at most every 5 s. */
export const backoffMs = (attempt: number): number => Math.min(5000, 250 * 2 ** attempt)

export interface HttpApiOptions {
  /** Origin of the server; defaults to the page's. */
  base?: string
  WebSocket?: typeof WebSocket
  fetch?: typeof fetch
  /**
   * Told true when the events socket is refused for want of a login (a restart of `taskloop serve`
   * with another token, or without a data folder), false once it connects again. It keeps retrying:
   * opening the printed URL in another tab sets the cookie this one needs.
   */
  onLoginLost?: (lost: boolean) => void
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

  /** `partial`: a snapshot's first page; the whole snapshot follows, and is what a resync waits for. */
  function onMessage(message: ServerMessage, partial: boolean): void {
    switch (message.type) {
      case 'snapshot':
        if (!partial) {
          for (const waiter of snapshotWaiters) waiter.resolve(message)
          snapshotWaiters = []
        }
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
    const ws = new Socket(`${base.replace(/^http/, 'ws')}/api/events`, COMPACT_PROTOCOL)
    socket = ws
    // A new connection starts from a snapshot: a new decoder.
    const decoder = new WireDecoder()
    let opened = false
    ws.onopen = () => {
      opened = true
      attempt = 0
      options.onLoginLost?.(false)
      // The server starts every connection with a snapshot; logs must be asked for again.
      for (const id of logListeners.keys()) send({ type: 'watch-log', id })
    }
    /** Decodes one message and passes it on; true when it was a snapshot's first page alone. */
    const receive = (text: string): boolean => {
      const message = JSON.parse(text) as CompactMessage | ServerMessage
      // A server that does not speak the compact form answers without the subprotocol.
      if (ws.protocol !== COMPACT_PROTOCOL) {
        onMessage(message as ServerMessage, false)
        return false
      }
      let partial = false
      decoder.decode(message as CompactMessage, (m, first) => {
        onMessage(m, first)
        partial ||= first
      })
      return partial
    }
    // After a snapshot's first page, what follows waits for a frame: the table paints its first
    // rows before the browser decodes the rest. Then one message a task, yielding in between, so
    // the page stays responsive while 100k tasks come in (the whole snapshot is applied at its
    // last page). Messages heard meanwhile queue behind, in order.
    let held: string[] | null = null
    const drain = (): void => {
      // Gone meanwhile: its successor starts from a snapshot of its own.
      if (socket !== ws || held === null) return
      const text = held.shift()
      if (text === undefined) return void (held = null)
      let partial = false
      try {
        partial = receive(text)
      } finally {
        if (partial) afterPaint(drain)
        else if (held.length > 0) soon(drain)
        else held = null
      }
    }
    ws.onmessage = (e) => {
      const text = String(e.data)
      if (held) return void held.push(text)
      if (receive(text)) {
        held = []
        afterPaint(drain)
      }
    }
    ws.onclose = () => {
      for (const waiter of snapshotWaiters) waiter.reject(new TaskloopError('internal', 'connection to the server lost'))
      snapshotWaiters = []
      if (socket !== ws) return
      socket = null
      if (!wanted()) return
      // A browser hides why an upgrade failed: a plain request tells a refused login from a server that is down.
      if (!opened && options.onLoginLost) {
        const told = options.onLoginLost
        doFetch(`${base}/api/stats`, { credentials: 'same-origin' }).then(
          (res) => res.status === 401 && told(true),
          () => undefined,
        )
      }
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

  /** Builds an operation's request from its HTTP binding (common/operations.ts) and unwraps the reply. */
  async function call(name: OperationName, args: unknown[]): Promise<unknown> {
    const { method, path, args: how, reply } = OPERATIONS[name].http
    let url = path
    const params = new URLSearchParams()
    let body: unknown
    how.forEach((arg, i) => {
      const value = args[i]
      if (arg === 'path') url = url.replace(':id', () => encodeURIComponent(String(value)))
      else if (arg === 'body') body = value
      else if ('field' in arg) body = { ...(body as object), [arg.field]: value }
      else {
        for (const key of Object.keys(arg.query)) {
          const v = (value as Record<string, unknown> | undefined)?.[key]
          if (v !== undefined && v !== '') params.set(key, String(v))
        }
      }
    })
    const qs = params.toString()
    const data = await request<Record<string, unknown> | undefined>(method, qs ? `${url}?${qs}` : url, body)
    return reply ? data?.[reply] : data
  }

  return {
    ...proxyOperations(call),
    snapshot() {
      // On a live socket, a resync brings the snapshot in order with the batches around it.
      if (send({ type: 'resync' })) return new Promise((resolve, reject) => snapshotWaiters.push({ resolve, reject }))
      return call('snapshot', []) as Promise<Snapshot>
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
  }
}
