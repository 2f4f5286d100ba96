// Shared by the server and CLI tests: a real engine behind a real server, and small waiting helpers.
import WebSocket from 'ws'
import { Engine } from '../../../engine/engine'
import type { EngineOptions } from '../../../engine/handle'
import { startServer } from '../../../server/server'
import type { ServerOptions, TaskloopServer } from '../../../server/server'
import type { ServerMessage } from '../../../common/wire'

export interface Harness {
  engine: Engine
  server: TaskloopServer
  /** fetch with the Bearer token (and a JSON content type on anything but GET); `path` starts with `/`. */
  api(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export async function startHarness(
  options: Omit<ServerOptions, 'engine'> = {},
  engineOptions: EngineOptions = {},
): Promise<Harness> {
  const engine = new Engine({ shutdownGraceMs: 1000, ...engineOptions })
  const server = await startServer({ engine, ...options })
  return {
    engine,
    server,
    api(path, init = {}) {
      const headers = new Headers(init.headers)
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${server.token}`)
      if ((init.method ?? 'GET') !== 'GET' && !headers.has('content-type')) headers.set('content-type', 'application/json')
      return fetch(server.url + path, { ...init, headers })
    },
    async close() {
      await server.close()
      await engine.shutdown({ graceMs: 500 })
    },
  }
}

export const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
})

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A WebSocket client that records every message it receives. */
export interface EventsClient {
  ws: WebSocket
  messages: ServerMessage[]
  send(message: unknown): void
  /** Resolves with the first recorded message (from index `from` on) that matches. */
  next<T extends ServerMessage>(match: (m: ServerMessage) => m is T, from?: number, timeoutMs?: number): Promise<T>
  close(): Promise<void>
}

export function connectEvents(url: string, options: WebSocket.ClientOptions = {}): Promise<EventsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    const messages: ServerMessage[] = []
    ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as ServerMessage))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        send: (m) => ws.send(JSON.stringify(m)),
        next: (match, from = 0, timeoutMs = 10_000) =>
          waitFor('a WebSocket message', () => messages.slice(from).find(match), timeoutMs) as never,
        close: () =>
          new Promise<void>((done) => {
            if (ws.readyState === WebSocket.CLOSED) return done()
            ws.once('close', () => done())
            ws.close()
          }),
      }),
    )
  })
}

export const wsUrl = (server: TaskloopServer, query = `?token=${server.token}`): string =>
  `${server.url.replace(/^http/, 'ws')}/api/events${query}`
