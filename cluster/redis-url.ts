// A node's Redis address: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
// The password goes to ioredis and nowhere else: everything a node logs or shows is redacted.
import { isIP } from 'node:net'
import type { RedisOptions } from 'ioredis'
import { redactRedisUrl } from '../common/schema'

export interface RedisAddress {
  /** ioredis options for a new connection (password and TLS included). */
  options: RedisOptions
  /** The URL with its password replaced by `***`: the only form that is printed or shown. */
  shown: string
  /** Replaces the password wherever it appears in a message (an error that quoted it). */
  redact(text: string): string
}

export function parseRedisUrl(url: string): RedisAddress {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    // The URL itself may hold the password: the refusal does not quote it.
    throw new Error('--redis expects redis://[user:password@]host[:port][/db] or rediss://… (TLS)')
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`--redis: unsupported scheme "${u.protocol}" (expected redis:// or rediss://)`)
  }
  const password = u.password ? decodeURIComponent(u.password) : undefined
  const username = u.username ? decodeURIComponent(u.username) : undefined
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0
  if (!Number.isInteger(db) || db < 0) throw new Error('--redis: the path after the host must be a database number')
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const options: RedisOptions = {
    host,
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    // TLS checks the certificate against the host name (an IP address is not sent as SNI).
    ...(u.protocol === 'rediss:' ? { tls: isIP(host) ? {} : { servername: host } } : {}),
  }
  const secrets = [password, u.password].filter((s): s is string => !!s)
  return {
    options,
    shown: redactRedisUrl(url),
    redact: (text) => secrets.reduce((t, s) => t.split(s).join('***'), text),
  }
}
