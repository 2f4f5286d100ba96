// Small HTTP plumbing for the headless server: security headers, JSON replies, bounded bodies,
// and the mapping from a TaskloopError to a status code.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TaskloopError } from '../common/types'
import { timed } from '../engine/costs'
import type { ErrorCode } from '../common/types'

export const MAX_BODY_BYTES = 10 * 1024 * 1024

// Keyed by string so a code added to the contract fails safe (500) rather than unhandled.
const STATUS_OF: Record<string, number> = {
  invalid: 400,
  'not-found': 404,
  conflict: 409,
  'shutting-down': 503,
  // A job blocks the engine's event loop: it is ended after its kill grace, then the engine answers.
  'engine-blocked': 503,
  // The pending queue is full (backpressure): the client may try again shortly.
  overloaded: 429,
  // The task store is gone: nothing can be acknowledged that would not be kept.
  unavailable: 503,
  internal: 500,
}

/** Headers every response carries, API and static alike. */
export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('X-Frame-Options', 'DENY')
  // The first URL carries ?token=: never leak it (or any later URL) to another origin.
  res.setHeader('Referrer-Policy', 'no-referrer')
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.setHeader('Cache-Control', 'no-store')
  // API answers are data, never a document to render.
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'")
  res.end(text)
}

/** Status and body for anything an engine call or a parser threw. */
export function errorReply(e: unknown): { status: number; body: { code: ErrorCode; error: string; path?: string } } {
  if (e instanceof HttpError) return { status: e.status, body: { code: 'invalid', error: e.message } }
  const err = TaskloopError.from(e)
  return { status: STATUS_OF[err.code] ?? 500, body: err.toJSON() }
}

/** A refusal that is about HTTP itself (bad JSON, body too large), not about the engine's data. */
export class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
  }
}

/**
 * Reads and parses a JSON body of at most MAX_BODY_BYTES; an empty body reads as undefined.
 * An oversized body is drained, not destroyed, so the client still reads the 413.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`)
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
      req.resume()
      reject(tooLarge())
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    req.on('error', reject)
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return reject(tooLarge())
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.trim() === '') return resolve(undefined)
      try {
        resolve(timed('host: HTTP body parse', () => JSON.parse(text) as unknown))
      } catch (e) {
        reject(new HttpError(400, `invalid JSON body: ${(e as Error).message}`))
      }
    })
  })
}

/** After a `?token=` login: a page that goes on to `target` (a path of this server) at once. */
export function sendLoginPage(res: ServerResponse, headOnly: boolean, target: string): void {
  // One leading slash: `//host/` would be another site's address.
  const href = `/${target.replace(/^\/+/, '')}`.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Taskloop</title>
<meta http-equiv="refresh" content="0;url=${href}"></head><body><a href="${href}">Taskloop</a></body></html>\n`
  res.statusCode = 200
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'")
  res.end(headOnly ? undefined : html)
}
