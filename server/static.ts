// Serves the built renderer (out/renderer) to a browser, with a strict CSP and no way out of its folder.
import { createReadStream } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import path from 'node:path'
import { contentType, resolveStaticFile } from './files'
import { sendJson } from './http'

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Taskloop</title></head>
<body><h1>Taskloop</h1>
<p>The UI is not built. Run <code>npm run build</code>, then start <code>taskloop serve</code> again.</p>
<p>The HTTP API under <code>/api/</code> works without it.</p></body></html>
`

/** `Host` as the browser wrote it, when it is a plain host[:port] (it is echoed into the CSP). */
const SAFE_HOST = /^[a-z0-9.\-[\]:]+$/i

export function contentSecurityPolicy(host: string, scheme: 'http' | 'https' = 'http'): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    // 'self' does not cover ws: in every browser; name the WebSocket origin explicitly.
    `connect-src 'self' ${scheme === 'https' ? 'wss' : 'ws'}://${host}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

export interface StaticFiles {
  serve(req: IncomingMessage, res: ServerResponse, pathname: string, fallbackHost: string): Promise<void>
}

/** The MIME type a file is served with. */
export function staticFiles(staticDir: string | undefined, scheme: 'http' | 'https' = 'http'): StaticFiles {
  // Resolved lazily: the renderer may be built while the server runs.
  const root = staticDir === undefined ? undefined : path.resolve(staticDir)
  const resolveFile = (pathname: string) => (root === undefined ? Promise.resolve(null) : resolveStaticFile(root, pathname))

  return {
    async serve(req, res, pathname, fallbackHost) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD')
        return sendJson(res, 405, { code: 'invalid', error: `${req.method} not allowed on ${pathname}` })
      }
      const host = req.headers.host && SAFE_HOST.test(req.headers.host) ? req.headers.host : fallbackHost
      res.setHeader('Content-Security-Policy', contentSecurityPolicy(host, scheme))
      const file = await resolveFile(pathname)
      if (file === null) {
        if (pathname === '/' || pathname === '/index.html') {
          res.statusCode = 200
          res.setHeader('Content-Type', 'text/html; charset=utf-8')
          res.setHeader('Cache-Control', 'no-store')
          res.end(req.method === 'HEAD' ? undefined : NOT_BUILT)
          return
        }
        // Browsers ask for it on their own; a 404 would only be noise in the console.
        if (pathname === '/favicon.ico') return void res.writeHead(204).end()
        return sendJson(res, 404, { code: 'not-found', error: `no such file: ${pathname}` })
      }
      res.statusCode = 200
      res.setHeader('Content-Type', contentType(file))
      // A rebuilt renderer must show up on reload.
      res.setHeader('Cache-Control', 'no-cache')
      if (req.method === 'HEAD') return void res.end()
      await new Promise<void>((resolve) => {
        const stream = createReadStream(file)
        stream.on('error', () => {
          res.destroy()
          resolve()
        })
        stream.on('end', resolve)
        stream.pipe(res)
      })
    },
  }
}
