// What keeps the token secret and the engine out of other pages' reach, over real HTTP, WebSocket
// and TLS sockets on 127.0.0.1 with a real engine.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Snapshot, TaskSnapshot } from '../../../common/types'
import type { ServerMessage } from '../../../common/wire'
import { connectEvents, startHarness, wsUrl } from './helpers'
import type { Harness } from './helpers'

const isSnapshot = (m: ServerMessage): m is Snapshot => m.type === 'snapshot'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h.close()
})

async function login(s: Harness = h): Promise<{ pair: string; value: string; header: string }> {
  const res = await fetch(`${s.server.url}/?token=${s.server.token}`, { redirect: 'manual' })
  const header = res.headers.get('set-cookie')!
  const pair = header.split(';')[0]!
  return { pair, value: pair.slice(pair.indexOf('=') + 1), header }
}

const spec = (name: string) => JSON.stringify({ name, argv: ['true'] })
const namedTasks = async (name: string): Promise<TaskSnapshot[]> =>
  ((await (await h.api('/api/tasks')).json()) as { tasks: TaskSnapshot[] }).tasks.filter((t) => t.name === name)

describe('the login cookie', () => {
  it('holds a random session id, not the token, and the id is no token anywhere else', async () => {
    const first = await login()
    const second = await login()
    expect(first.header).toMatch(/HttpOnly/)
    expect(first.header).toMatch(/SameSite=Strict/)
    expect(first.header).toMatch(/Path=\//)
    expect(first.value).not.toBe(h.server.token)
    expect(first.header).not.toContain(h.server.token)
    // 32 random bytes, base64url.
    expect(first.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(second.value).not.toBe(first.value)
    // What another local server can read from the cookie does not work as the token.
    expect((await h.api('/api/stats', { headers: { authorization: `Bearer ${first.value}` } })).status).toBe(401)
    expect((await fetch(`${h.server.url}/api/stats?token=${first.value}`)).status).toBe(401)
    // It does work as the cookie, for reading.
    expect((await fetch(`${h.server.url}/api/stats`, { headers: { cookie: first.pair } })).status).toBe(200)
  })
})

describe('the login page', () => {
  it('moves on within this server only, whatever the path', async () => {
    for (const raw of ['//evil.example/', '/.//evil.example/', '/./\\evil.example/', '///evil.example/x']) {
      const page = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: h.server.port, path: `${raw}?token=${h.server.token}` }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve(body))
        })
        req.on('error', reject)
        req.end()
      })
      const target = /content="0;url=([^"]*)"/.exec(page)?.[1]
      expect(target, raw).toMatch(/^\/(?![/\\])/)
      expect(page, raw).not.toContain(h.server.token)
    }
  })
})

describe('a request that changes state', () => {
  it('needs Content-Type: application/json, even with the token (text/plain, form and none are refused)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await h.api('/api/tasks', { method: 'POST', headers: { 'content-type': type }, body: spec(`typed ${type}`) })
      expect(res.status, type).toBe(415)
      expect(await namedTasks(`typed ${type}`)).toEqual([])
    }
    // No type at all (by hand: the helper would add JSON).
    const bare = await fetch(`${h.server.url}/api/cancel-all`, { method: 'POST', headers: { authorization: `Bearer ${h.server.token}` } })
    expect(bare.status).toBe(415)
    expect(await bare.json()).toMatchObject({ error: 'POST needs Content-Type: application/json' })
    const typed = await h.api('/api/tasks', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: spec('json typed') })
    expect(typed.status).toBe(201)
  })

  it('with a session cookie needs this server as its Origin, present (a replayed cookie has none)', async () => {
    const { pair } = await login()
    const json = { cookie: pair, 'content-type': 'application/json' }
    const noOrigin = await fetch(`${h.server.url}/api/tasks`, { method: 'POST', headers: json, body: spec('cookie, no origin') })
    expect(noOrigin.status).toBe(403)
    const otherPort = await fetch(`${h.server.url}/api/tasks`, {
      method: 'POST',
      headers: { ...json, origin: `http://127.0.0.1:${h.server.port === 1 ? 2 : h.server.port - 1}` },
      body: spec('cookie, other port'),
    })
    expect(otherPort.status).toBe(403)
    const textPlain = await fetch(`${h.server.url}/api/tasks`, {
      method: 'POST',
      headers: { cookie: pair, origin: h.server.url, 'content-type': 'text/plain' },
      body: spec('cookie, text/plain'),
    })
    expect(textPlain.status).toBe(415)
    expect(await namedTasks('cookie, no origin')).toEqual([])
    expect(await namedTasks('cookie, other port')).toEqual([])
    expect(await namedTasks('cookie, text/plain')).toEqual([])
    const ours = await fetch(`${h.server.url}/api/tasks`, { method: 'POST', headers: { ...json, origin: h.server.url }, body: spec('cookie, our origin') })
    expect(ours.status).toBe(201)
  })

  it('the events WebSocket takes a cookie only with an Origin', async () => {
    const { pair } = await login()
    await expect(connectEvents(wsUrl(h.server, ''), { headers: { cookie: pair } })).rejects.toThrow('HTTP 403')
    const ok = await connectEvents(wsUrl(h.server, ''), { headers: { cookie: pair, origin: h.server.url } })
    await ok.next(isSnapshot)
    await ok.close()
  })
})

describe('the error log', () => {
  it('names the path of a failed request without its query string (which may hold the token)', async () => {
    const s = await startHarness()
    // The real engine has no fault to raise on demand here: make one call throw like a bug would.
    s.engine.stats = () => Promise.reject(new Error('stats exploded'))
    const written: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    try {
      const res = await fetch(`${s.server.url}/api/stats?token=${s.server.token}`)
      expect(res.status).toBe(500)
    } finally {
      spy.mockRestore()
      await s.close()
    }
    const log = written.join('')
    expect(log).toContain('taskloop server: GET /api/stats: stats exploded')
    expect(log).not.toContain(s.server.token)
  })
})

describe('TLS', () => {
  let dir: string
  let cert: string
  let s: Harness
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-tls-'))
    // A throwaway self-signed certificate for 127.0.0.1, made by the system's openssl.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
    cert = await readFile(path.join(dir, 'cert.pem'), 'utf8')
    s = await startHarness({ tls: { cert, key: await readFile(path.join(dir, 'key.pem'), 'utf8') }, staticDir: dir })
  })
  afterAll(async () => {
    await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const get = (p: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
      const req = httpsRequest(`${s.server.url}${p}`, { ca: cert, headers }, (res) => {
        res.resume()
        resolve({ status: res.statusCode!, headers: res.headers })
      })
      req.on('error', reject)
      req.end()
    })

  it('serves https and wss; the session cookie is Secure and the CSP names wss', async () => {
    expect(s.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect((await get('/api/stats', { authorization: `Bearer ${s.server.token}` })).status).toBe(200)
    expect((await get('/api/stats')).status).toBe(401)
    const loginRes = await get(`/?token=${s.server.token}`)
    expect(loginRes.status).toBe(200)
    const cookie = String(loginRes.headers['set-cookie'])
    expect(cookie).toMatch(/; Secure/)
    const page = await get('/', { cookie: cookie.split(';')[0]! })
    expect(String(page.headers['content-security-policy'])).toContain(`connect-src 'self' wss://127.0.0.1:${s.server.port}`)
    const events = await connectEvents(wsUrl(s.server), { ca: cert })
    expect(events.ws.url).toMatch(/^wss:/)
    await events.next(isSnapshot)
    await events.close()
    // The same port does not speak plain http.
    await expect(fetch(`http://127.0.0.1:${s.server.port}/api/stats`)).rejects.toThrow()
  })
})
