import { describe, expect, it } from 'vitest'
import { parseRedisUrl } from '../../../cluster/redis-url'

describe('parseRedisUrl', () => {
  it('gives ioredis the password and TLS, and shows the URL with the password as ***', () => {
    const a = parseRedisUrl('rediss://user:p%40ss%2Fw0rd@redis.example:6380/2')
    expect(a.options).toMatchObject({ host: 'redis.example', port: 6380, db: 2, username: 'user', password: 'p@ss/w0rd', tls: { servername: 'redis.example' } })
    expect(a.shown).toBe('rediss://user:***@redis.example:6380/2')
    expect(a.redact('WRONGPASS for p@ss/w0rd (p%40ss%2Fw0rd)')).toBe('WRONGPASS for *** (***)')
    expect(parseRedisUrl('redis://127.0.0.1').options).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 })
    expect(parseRedisUrl('redis://127.0.0.1').shown).toBe('redis://127.0.0.1')
  })

  it('refuses what is not a Redis URL without quoting it (it may hold a password)', () => {
    expect(() => parseRedisUrl('not a url :secret@')).toThrow(/^--redis expects redis:\/\//)
    expect(() => parseRedisUrl('not a url :secret@')).not.toThrow(/secret/)
    expect(() => parseRedisUrl('http://h:1')).toThrow(/unsupported scheme "http:"/)
    expect(() => parseRedisUrl('redis://h:1/x')).toThrow(/database number/)
  })
})
