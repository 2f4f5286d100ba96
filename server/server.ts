// The headless transport: the engine's API over HTTP, its events over a WebSocket, and the built
// renderer as static files, on 127.0.0.1 behind a token (over TLS when given a certificate).
// `taskloop serve` and the tests start it.
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { EngineHandle } from '../engine/handle'
import {
  accessPolicy,
  authenticate,
  hostAllowed,
  hostForUrl,
  isWildcardHost,
  newToken,
  originAllowed,
  sessionCookie,
  Sessions,
  sessionSigningKey,
  unsafeRequestRefusal,
} from './auth'
import type { AccessPolicy } from './auth'
import { COMPACT_PROTOCOL } from '../common/wire'
import { EventHub, serveEvents } from './events'
import { errorReply, sendJson, sendLoginPage, setSecurityHeaders } from './http'
import { apiRoutes } from './routes'
import { staticFiles } from './static'

export interface ServerOptions {
  engine: EngineHandle
  host?: string
  port?: number
  /** Random 32-byte hex when absent. */
  token?: string
  /** false (`--no-auth`) lets anyone who can reach the port control the engine. */
  auth?: boolean
  /** The built renderer (out/renderer). */
  staticDir?: string
  /** PEM certificate and key: serve https and wss instead of http and ws. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /**
   * A secret kept with the data: sessions are signed with it (and the token) instead of held in
   * memory, so a tab stays logged in across a restart of the same folder. Absent: they end with the server.
   */
  sessionSecret?: Buffer
}

export interface TaskloopServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:7420` (`https://` with TLS). */
  url: string
  port: number
  token: string
  /** WebSocket clients of the events connected now. */
  readonly clients: number
  close(): Promise<void>
}

/** A WebSocket message is a ClientMessage: tiny. */
const MAX_WS_MESSAGE_BYTES = 64 * 1024
const PING_INTERVAL_MS = 30_000

/**
 * permessage-deflate for the events, where the client offers it (browsers do). Measured with
 * bench/wire/deflate.ts on the load (2,000 jobs of 0.5–6 s, 400 at a time), compact form:
 * 1,129 KB raw, 99 KB at level 1, 144 KB without context takeover, 85 KB at level 6. Context
 * takeover kept: batches are small and alike, the shared window is a third of the saving (it costs
 * ~300 KB of zlib state per connection, and the UI has a few). Level 1, zlib's fastest: level 6
 * saves 14% more but every snapshot page pays for it. Tiny messages go as they are.
 */
const EVENTS_DEFLATE = {
  threshold: 64,
  zlibDeflateOptions: { level: 1 },
  clientNoContextTakeover: false,
  serverNoContextTakeover: false,
} as const

export async function startServer(options: ServerOptions): Promise<TaskloopServer> {
  const { engine, host = '127.0.0.1', port = 0, auth = true } = options
  const token = options.token ?? newToken()
  const scheme = options.tls ? 'https' : 'http'

  // Filled in once the port is known (port 0 picks one).
  let policy: AccessPolicy = accessPolicy(host, port, auth ? token : null, scheme)
  const sessions = new Sessions(options.sessionSecret && auth ? sessionSigningKey(options.sessionSecret, token) : null)
  let fallbackHost = ''
  const api = apiRoutes(engine)
  const files = staticFiles(options.staticDir, scheme)

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSecurityHeaders(res)
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (!hostAllowed(req, policy)) return sendJson(res, 403, { error: 'unexpected Host header' })
    if (!originAllowed(req, policy)) return sendJson(res, 403, { error: 'cross-origin request refused' })
    const source = authenticate(req, url, policy, sessions)
    const isPage = !(url.pathname === '/api' || url.pathname.startsWith('/api/')) && (req.method === 'GET' || req.method === 'HEAD')
    if (source === null && isPage) return sendSignInPage(res)
    if (source === null) {
      return sendJson(res, 401, {
        error: 'unauthorized: open the URL printed by `taskloop serve` (it carries ?token=), or send Authorization: Bearer TOKEN',
      })
    }
    const refusal = unsafeRequestRefusal(req, source)
    if (refusal !== null) return sendJson(res, refusal.status, { code: 'invalid', error: refusal.error })
    const isApi = url.pathname === '/api' || url.pathname.startsWith('/api/')
    if (source === 'query') {
      res.setHeader('Set-Cookie', sessionCookie(policy, sessions.open()))
      if (!isApi && (req.method === 'GET' || req.method === 'HEAD')) {
        // Keep the token out of the address bar and history: the session cookie stands in for it.
        // A page of ours moves on, not a 302: when the login came from another site (the redirect
        // file of `--open` is a file: page) the browser would not send a SameSite=Strict cookie
        // along a redirect it started, only on a navigation this origin starts.
        url.searchParams.delete('token')
        return sendLoginPage(res, req.method === 'HEAD', url.pathname + url.search)
      }
    }
    if (isApi) return api(req, res, url)
    return files.serve(req, res, url.pathname, fallbackHost)
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    onRequest(req, res).catch((e: unknown) => {
      const { status, body } = errorReply(e)
      // The path only: a query string may carry the token.
      const where = (req.url ?? '/').split('?')[0]
      if (status === 500) process.stderr.write(`taskloop server: ${req.method} ${where}: ${body.error}\n`)
      if (res.headersSent) return void res.destroy()
      if (status === 429) res.setHeader('Retry-After', '1')
      sendJson(res, status, body)
    })
  }
  const server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, handle) : createServer(handle)

  const hub = new EventHub(engine)
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_MESSAGE_BYTES,
    // The compact form of the events (common/wire.ts) when the client offers it; the plain one otherwise.
    handleProtocols: (offered) => (offered.has(COMPACT_PROTOCOL) ? COMPACT_PROTOCOL : false),
    perMessageDeflate: EVENTS_DEFLATE,
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (url.pathname !== '/api/events') return refuse(404, 'Not Found')
    if (!hostAllowed(req, policy) || !originAllowed(req, policy)) return refuse(403, 'Forbidden')
    const source = authenticate(req, url, policy, sessions)
    if (source === null) return refuse(401, 'Unauthorized')
    // Browsers always name the Origin of a WebSocket; a bare cookie without one is a replay.
    if (source === 'cookie' && req.headers.origin === undefined) return refuse(403, 'Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => {
      let alive = true
      ws.on('pong', () => (alive = true))
      const ping = setInterval(() => {
        // A peer that vanished without closing (sleep, cable) would hold its subscriptions forever.
        if (!alive) return ws.terminate()
        alive = false
        ws.ping()
      }, PING_INTERVAL_MS)
      ws.on('close', () => clearInterval(ping))
      serveEvents(ws, hub, engine)
    })
  })
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })

  // Warm from the start, so the first tab opens from memory (see EventHub).
  hub.start()
  if (!auth) {
    process.stderr.write(
      '\n!!! WARNING: Taskloop server started with authentication OFF (--no-auth).\n' +
        '!!! Anyone who can reach this port can run any command as you. Use it only for tests.\n\n',
    )
  }
  const actualPort = (server.address() as AddressInfo).port
  policy = accessPolicy(host, actualPort, auth ? token : null, scheme)
  // A browser on this machine reaches a wildcard bind through loopback.
  const urlHost = isWildcardHost(host) ? '127.0.0.1' : hostForUrl(host)
  fallbackHost = `${urlHost}:${actualPort}`

  let closing: Promise<void> | undefined
  return {
    url: `${scheme}://${urlHost}:${actualPort}`,
    port: actualPort,
    token,
    get clients() {
      return hub.size
    },
    close() {
      hub.stop()
      closing ??= new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.close(1001, 'server shutting down')
        wss.close()
        server.close(() => resolve())
        server.closeIdleConnections()
        // Clients that do not finish their close handshake must not hold the process.
        setTimeout(() => {
          for (const ws of wss.clients) ws.terminate()
          server.closeAllConnections()
        }, 1000).unref()
      })
      return closing
    },
  }
}

/**
 * What a browser shows without a valid token or session (a bookmark, or a tab left open across a
 * restart of `taskloop serve`): a page saying what to do, not raw JSON. Static text only: the CSP
 * allows no inline script or style.
 */
function sendSignInPage(res: ServerResponse): void {
  res.statusCode = 401
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Taskloop: open the link again</title></head>
<body>
<h1>Taskloop needs its link</h1>
<p>This page was opened without the token of the running <code>taskloop serve</code>, or the server
was restarted since with another token (or without a data folder, so its logins ended with it).</p>
<ol>
<li>Open the URL that <code>taskloop serve</code> printed when it started: <code>Taskloop UI: http://127.0.0.1:PORT/?token=…</code></li>
<li>If it is no longer running, run <code>taskloop serve</code> (or <code>npm start</code>) again and open the URL it prints.</li>
</ol>
<p>Your tasks are kept in the data folder; they are there when you come back.</p>
</body></html>
`)
}
