// Who may talk to the headless server: the token (Bearer header, or ?token= once, which opens a
// session whose random id the cookie holds, signed when the server has a data folder), and which Host / Origin a request may name (DNS
// rebinding and cross-site requests are refused). The cookie never holds the token: a browser sends
// cookies for 127.0.0.1 to every port on it, so any other local server may read them.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export interface AccessPolicy {
  /** null when auth is off (`--no-auth`). */
  token: string | null
  port: number
  /** `host:port` values a request may name; null when bound to every interface (any Host). */
  allowedHosts: Set<string> | null
  /** `https` when serving TLS: Origins and cookies follow. */
  scheme: 'http' | 'https'
}

export const newToken = (): string => randomBytes(32).toString('hex')

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', ''])
export const isWildcardHost = (host: string): boolean => WILDCARD_HOSTS.has(host)

export const isLoopbackHost = (host: string): boolean =>
  /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost' || host === '::1' || host === '[::1]'

/** `::1` → `[::1]`, for URLs and Host headers. */
export const hostForUrl = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

export function accessPolicy(
  bindHost: string,
  port: number,
  token: string | null,
  scheme: 'http' | 'https' = 'http',
): AccessPolicy {
  if (isWildcardHost(bindHost)) return { token, port, allowedHosts: null, scheme }
  const names = ['127.0.0.1', 'localhost', '[::1]', hostForUrl(bindHost).toLowerCase()]
  return { token, port, allowedHosts: new Set(names.map((n) => `${n}:${port}`)), scheme }
}

/** One cookie per port, so two servers on one machine do not overwrite each other's session. */
export const cookieName = (port: number): string => `taskloop_session_${port}`

export const sessionCookie = (policy: AccessPolicy, sessionId: string): string =>
  `${cookieName(policy.port)}=${sessionId}; Path=/; HttpOnly; SameSite=Strict${policy.scheme === 'https' ? '; Secure' : ''}`

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Logins beyond this many push out the oldest: a loop of `?token=` requests cannot grow memory. */
const MAX_SESSIONS = 1000

/**
 * The logins (`?token=`) of this server. In memory, they end with the server. Given a signing key
 * (kept in the data folder, so a restarted `taskloop serve` of that folder knows them), the cookie is
 * `<random id>.<HMAC-SHA256(key, id)>` and needs no memory: see sessionSigningKey.
 */
export class Sessions {
  // Kept as digests: a lookup's timing depends on the candidate's hash, not on how much of an id it guessed.
  private readonly ids = new Set<string>()

  constructor(private readonly signingKey: Buffer | null = null) {}

  open(): string {
    const id = randomBytes(32).toString('base64url')
    if (this.signingKey !== null) return `${id}.${this.sign(id)}`
    this.ids.add(digest(id).toString('hex'))
    if (this.ids.size > MAX_SESSIONS) this.ids.delete(this.ids.values().next().value!)
    return id
  }

  has(cookie: string | undefined): boolean {
    if (cookie === undefined) return false
    if (this.signingKey === null) return this.ids.has(digest(cookie).toString('hex'))
    const dot = cookie.indexOf('.')
    if (dot <= 0) return false
    // Compared as digests: constant time whatever the candidate's length.
    return timingSafeEqual(digest(cookie.slice(dot + 1)), digest(this.sign(cookie.slice(0, dot))))
  }

  private sign(id: string): string {
    return createHmac('sha256', this.signingKey!).update(id).digest('base64url')
  }
}

/**
 * The key that signs session cookies: the folder's stored secret bound to the token, so a cookie
 * outlives a restart with the same token and dies when the token changes.
 */
export const sessionSigningKey = (secret: Buffer, token: string): Buffer =>
  createHmac('sha256', secret).update(`taskloop session\0${token}`).digest()

/** Constant-time: both sides are hashed first, so lengths always match. */
function tokenMatches(candidate: string | undefined, token: string): boolean {
  if (candidate === undefined) return false
  return timingSafeEqual(digest(candidate), digest(token))
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export type TokenSource = 'none-needed' | 'header' | 'cookie' | 'query'

/** How the request proved it holds the token, or null when it did not. */
export function authenticate(req: IncomingMessage, url: URL, policy: AccessPolicy, sessions: Sessions): TokenSource | null {
  if (policy.token === null) return 'none-needed'
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]
  // Every candidate is compared, so the answer's timing does not tell which one was present.
  const byHeader = tokenMatches(bearer, policy.token)
  const byCookie = sessions.has(cookieValue(req, cookieName(policy.port)))
  const byQuery = tokenMatches(url.searchParams.get('token') ?? undefined, policy.token)
  if (byHeader) return 'header'
  if (byCookie) return 'cookie'
  if (byQuery) return 'query'
  return null
}

/** The Host header names this server (refuses DNS-rebinding pages that resolve to 127.0.0.1). */
export function hostAllowed(req: IncomingMessage, policy: AccessPolicy): boolean {
  if (policy.allowedHosts === null) return true
  const host = req.headers.host?.toLowerCase()
  return host !== undefined && policy.allowedHosts.has(host)
}

/** Origin absent (not a browser, or a same-origin GET) or this server's own origin. */
export function originAllowed(req: IncomingMessage, policy: AccessPolicy): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  const prefix = `${policy.scheme}://`
  const lower = origin.toLowerCase()
  if (!lower.startsWith(prefix) || lower.slice(prefix.length).includes('/')) return false
  const host = lower.slice(prefix.length)
  if (policy.allowedHosts !== null) return policy.allowedHosts.has(host)
  return host === req.headers.host?.toLowerCase()
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Why a request that changes state is refused, or null. Its body must be declared JSON: a page on
 * another origin cannot send that without a CORS preflight, which this server never grants (plain
 * forms and text/plain fetches can). When a cookie is its only credential it must name its Origin,
 * which every browser does on such a request; originAllowed has already checked that it is ours.
 */
export function unsafeRequestRefusal(req: IncomingMessage, source: TokenSource): { status: number; error: string } | null {
  if (SAFE_METHODS.has(req.method ?? 'GET')) return null
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') return { status: 415, error: `${req.method} needs Content-Type: application/json` }
  if (source === 'cookie' && req.headers.origin === undefined) {
    return { status: 403, error: `${req.method} with a session cookie needs an Origin header` }
  }
  return null
}
