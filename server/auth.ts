// Who may talk to the headless server: the token (Bearer header, session cookie, or ?token= once),
// and which Host / Origin a request may name (DNS rebinding and cross-site requests are refused).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export interface AccessPolicy {
  /** null when auth is off (`--no-auth`). */
  token: string | null
  port: number
  /** `host:port` values a request may name; null when bound to every interface (any Host). */
  allowedHosts: Set<string> | null
}

export const newToken = (): string => randomBytes(32).toString('hex')

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', ''])
export const isWildcardHost = (host: string): boolean => WILDCARD_HOSTS.has(host)

export const isLoopbackHost = (host: string): boolean =>
  /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost' || host === '::1' || host === '[::1]'

/** `::1` → `[::1]`, for URLs and Host headers. */
export const hostForUrl = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

export function accessPolicy(bindHost: string, port: number, token: string | null): AccessPolicy {
  if (isWildcardHost(bindHost)) return { token, port, allowedHosts: null }
  const names = ['127.0.0.1', 'localhost', '[::1]', hostForUrl(bindHost).toLowerCase()]
  return { token, port, allowedHosts: new Set(names.map((n) => `${n}:${port}`)) }
}

/** One cookie per port, so two servers on one machine do not overwrite each other's session. */
export const cookieName = (port: number): string => `taskloop_token_${port}`

export const sessionCookie = (policy: AccessPolicy): string =>
  `${cookieName(policy.port)}=${policy.token}; Path=/; HttpOnly; SameSite=Strict`

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

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
export function authenticate(req: IncomingMessage, url: URL, policy: AccessPolicy): TokenSource | null {
  if (policy.token === null) return 'none-needed'
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]
  // Every candidate is compared, so the answer's timing does not tell which one was present.
  const byHeader = tokenMatches(bearer, policy.token)
  const byCookie = tokenMatches(cookieValue(req, cookieName(policy.port)), policy.token)
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
  const match = /^http:\/\/([^/]+)$/.exec(origin.toLowerCase())
  if (!match) return false
  const host = match[1]!
  if (policy.allowedHosts !== null) return policy.allowedHosts.has(host)
  return host === req.headers.host?.toLowerCase()
}
