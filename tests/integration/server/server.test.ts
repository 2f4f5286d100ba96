// The headless server over real HTTP and WebSocket on 127.0.0.1, with a real in-process engine.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventBatch, Snapshot, Stats, TaskDetail, TaskSnapshot } from '../../../common/types'
import type { ServerMessage } from '../../../common/wire'
import { connectEvents, post, startHarness, waitFor, wsUrl } from './helpers'
import type { Harness } from './helpers'

const isSnapshot = (m: ServerMessage): m is Snapshot => m.type === 'snapshot'
const isBatch = (m: ServerMessage): m is EventBatch => m.type === 'batch'

let h: Harness

beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h.close()
})

async function submit(spec: unknown): Promise<string[]> {
  const res = await h.api('/api/tasks', post(spec))
  expect(res.status).toBe(201)
  return ((await res.json()) as { ids: string[] }).ids
}

async function task(id: string): Promise<TaskDetail> {
  const res = await h.api(`/api/tasks/${id}`)
  expect(res.status).toBe(200)
  return (await res.json()) as TaskDetail
}

const finalState = (id: string) =>
  waitFor(`task ${id} to finish`, async () => {
    const t = await task(id)
    return ['done', 'failed', 'cancelled'].includes(t.state) ? t : undefined
  })

describe('tasks API', () => {
  it('submits a spec (201 {ids}) and gets it back with its log tail', async () => {
    const ids = await submit({ name: 'three ticks', job: 'ticker', params: { steps: 3, intervalMs: 20 } })
    expect(ids).toHaveLength(1)
    const t = await finalState(ids[0]!)
    expect(t).toMatchObject({ id: ids[0], name: 'three ticks', state: 'done', result: { steps: 3 } })
    expect(t.log.map((l) => l.line)).toEqual(['tick 1', 'tick 2', 'tick 3'])
  })

  it('submits a batch and lists tasks by state with a limit', async () => {
    const ids = await submit({
      batch: { name: 'naps', tasks: [1, 2, 3].map((i) => ({ name: `nap ${i}`, job: 'sleep', params: { ms: 10 } })) },
    })
    expect(ids).toHaveLength(3)
    await Promise.all(ids.map(finalState))
    const res = await h.api('/api/tasks?state=done&limit=2')
    expect(res.status).toBe(200)
    const { tasks } = (await res.json()) as { tasks: TaskSnapshot[] }
    expect(tasks).toHaveLength(2)
    expect(tasks.every((t) => t.state === 'done')).toBe(true)
    const all = (await (await h.api('/api/tasks')).json()) as { tasks: TaskSnapshot[] }
    expect(all.tasks.map((t) => t.id)).toEqual(expect.arrayContaining(ids))
  })

  it('refuses a bad list query naming the parameter', async () => {
    const res = await h.api('/api/tasks?state=sleeping')
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ path: 'state' })
    const bad = await h.api('/api/tasks?limit=abc')
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ path: 'limit' })
  })

  it('cancels a running task (202) and it ends cancelled', async () => {
    const [id] = await submit({ name: 'long nap', job: 'sleep', params: { ms: 30_000 } })
    await waitFor('running', async () => (await task(id!)).state === 'running')
    const res = await h.api(`/api/tasks/${id}/cancel`, { method: 'POST' })
    expect(res.status).toBe(202)
    expect(await finalState(id!)).toMatchObject({ state: 'cancelled', reason: 'user' })
  })

  it('cancels all (202)', async () => {
    const ids = await submit({
      batch: { concurrency: 1, tasks: [1, 2, 3].map(() => ({ job: 'sleep', params: { ms: 30_000 } })) },
    })
    const res = await h.api('/api/cancel-all', { method: 'POST' })
    expect(res.status).toBe(202)
    for (const id of ids) expect((await finalState(id)).state).toBe('cancelled')
  })

  it('retries a failed task as a new task (201 {id}); a running one is a conflict (409)', async () => {
    const [id] = await submit({ name: 'boom', job: 'fail', params: { message: 'on purpose' } })
    expect(await finalState(id!)).toMatchObject({ state: 'failed', error: { message: 'on purpose' } })
    const res = await h.api(`/api/tasks/${id}/retry`, { method: 'POST' })
    expect(res.status).toBe(201)
    const { id: retried } = (await res.json()) as { id: string }
    expect(retried).not.toBe(id)
    expect(await finalState(retried)).toMatchObject({ name: 'boom', state: 'failed' })

    const [running] = await submit({ job: 'sleep', params: { ms: 30_000 } })
    const conflict = await h.api(`/api/tasks/${running}/retry`, { method: 'POST' })
    expect(conflict.status).toBe(409)
    await h.api(`/api/tasks/${running}/cancel`, { method: 'POST' })
  })

  it('refuses a spec that does not validate with 400 naming the field', async () => {
    const res = await h.api('/api/tasks', post({ job: 'sleep', params: 'soon' }))
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: string; path: string }
    expect(body.path).toBe('params')
    expect(body.error).toContain('params')

    const batch = await h.api('/api/tasks', post({ batch: { tasks: [{ job: 'sleep', executor: 'gpu' }] } }))
    expect(batch.status).toBe(400)
    expect(await batch.json()).toMatchObject({ path: 'batch.tasks.0.executor' })
  })

  it('answers bad JSON 400, a body over 10 MB 413, unknown ids and routes 404', async () => {
    expect((await h.api('/api/tasks', post('{"job": '))).status).toBe(400)
    const huge = await h.api('/api/tasks', post({ job: 'sleep', params: { pad: 'x'.repeat(11 * 1024 * 1024) } }))
    expect(huge.status).toBe(413)
    const missing = await h.api('/api/tasks/no-such-task')
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ error: expect.stringContaining('no-such-task') })
    const route = await h.api('/api/nothing-here')
    expect(route.status).toBe(404)
    expect(route.headers.get('content-type')).toContain('application/json')
    expect((await h.api('/api/stats', { method: 'DELETE' })).status).toBe(405)
  })

  it('reports stats with counters, pools, loop lag and throughput', async () => {
    const res = await h.api('/api/stats')
    expect(res.status).toBe(200)
    const stats = (await res.json()) as Stats
    expect(Object.keys(stats.counters).sort()).toEqual(['cancelled', 'cancelling', 'done', 'failed', 'pending', 'running'])
    for (const kind of ['loop', 'thread', 'process', 'command'] as const) {
      expect(stats.pools[kind]).toEqual({
        limit: expect.any(Number),
        running: expect.any(Number),
        pending: expect.any(Number),
        workers: expect.any(Number),
      })
    }
    expect(stats.loopLag).toEqual({ p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) })
    expect(typeof stats.throughput).toBe('number')
    expect(stats.shuttingDown).toBe(false)
  })

  it('sets limits and serves a snapshot', async () => {
    const res = await h.api('/api/limits', post({ limits: { command: 3 } }))
    expect(res.status).toBe(200)
    expect(((await res.json()) as { limits: { command: number } }).limits.command).toBe(3)
    const bad = await h.api('/api/limits', post({ limits: { gpu: 1 } }))
    expect(bad.status).toBe(400)
    const snap = (await (await h.api('/api/snapshot')).json()) as Snapshot
    expect(snap).toMatchObject({ type: 'snapshot', seq: expect.any(Number), limits: { command: 3 } })
    expect(Array.isArray(snap.tasks)).toBe(true)
  })

  it('answers GET /api/tasks/:id and /api/batches/:id with ?waitMs= when they settle (Future.result)', async () => {
    const res = await h.api('/api/tasks', post({ batch: { returnWhen: 'first', tasks: [{ job: 'sleep', params: { ms: 100 } }, { job: 'sleep', params: { ms: 60_000 } }] } }))
    const { ids, batchId } = (await res.json()) as { ids: string[]; batchId: string }
    const first = (await (await h.api(`/api/tasks/${ids[0]}?waitMs=30000`)).json()) as TaskSnapshot
    expect(first.state).toBe('done')
    const batch = (await (await h.api(`/api/batches/${batchId}?waitMs=30000`)).json()) as Record<string, unknown>
    expect(batch).toMatchObject({ state: 'cancelled', settledBy: 'first', completed: [ids[0], ids[1]] })
    expect((await h.api(`/api/tasks/${ids[0]}?waitMs=999999`)).status).toBe(400)
  })

  it('pauses and resumes intake, gathers a batch, sets a group limit', async () => {
    expect((await h.api('/api/pause', { method: 'POST' })).status).toBe(202)
    const res = await h.api('/api/tasks', post({ batch: { name: 'gathered', tasks: [{ job: 'sleep', params: { ms: 1 } }, { job: 'primes', params: { below: 100 } }] } }))
    const { ids, batchId } = (await res.json()) as { ids: string[]; batchId: string }
    await new Promise((r) => setTimeout(r, 100))
    expect((await task(ids[0]!)).state).toBe('pending')
    expect((await h.api('/api/resume', { method: 'POST' })).status).toBe(202)
    await Promise.all(ids.map(finalState))
    const batch = await h.api(`/api/batches/${batchId}`)
    expect(batch.status).toBe(200)
    expect(await batch.json()).toMatchObject({ id: batchId, name: 'gathered', state: 'done', taskIds: ids, results: [{ ms: 1 }, expect.anything()] })
    expect((await h.api('/api/batches/no-such-batch')).status).toBe(404)
    const limit = await h.api('/api/group-limits', post({ group: 'nightly', limit: 2 }))
    expect(limit.status).toBe(200)
    expect(await limit.json()).toEqual({ groupLimits: { nightly: 2 } })
    const bad = await h.api('/api/group-limits', post({ group: 'nightly', limit: 0 }))
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ path: 'limit' })
  })

  it('sends security headers on API answers', async () => {
    const res = await h.api('/api/stats')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
  })
})

describe('auth', () => {
  it('refuses a request without the token or with a wrong one (401 JSON)', async () => {
    const none = await fetch(`${h.server.url}/api/stats`)
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ error: expect.stringContaining('unauthorized') })
    const wrong = await h.api('/api/stats', { headers: { authorization: `Bearer ${'0'.repeat(64)}` } })
    expect(wrong.status).toBe(401)
    expect((await fetch(`${h.server.url}/api/stats?token=nope`)).status).toBe(401)
    expect((await fetch(`${h.server.url}/`)).status).toBe(401)
  })

  it('answers a page without the token (a stale tab after a restart) with an HTML page saying what to do, never raw JSON', async () => {
    const page = await fetch(`${h.server.url}/?token=stale`)
    expect(page.status).toBe(401)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const text = await page.text()
    expect(text).toContain('Open the URL that <code>taskloop serve</code> printed')
    expect(text).toContain('run <code>taskloop serve</code> (or <code>npm start</code>) again')
  })


  it('takes ?token= once, sets an HttpOnly SameSite=Strict cookie and moves on without it', async () => {
    const res = await fetch(`${h.server.url}/?token=${h.server.token}&view=list`, { redirect: 'manual' })
    expect(res.status).toBe(200)
    const page = await res.text()
    expect(page).toContain('<meta http-equiv="refresh" content="0;url=/?view=list">')
    expect(page).not.toContain(h.server.token)
    const cookie = res.headers.get('set-cookie')!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    const pair = cookie.split(';')[0]!
    const withCookie = await fetch(`${h.server.url}/api/stats`, { headers: { cookie: pair } })
    expect(withCookie.status).toBe(200)
    const index = await fetch(`${h.server.url}/`, { headers: { cookie: pair } })
    expect(index.status).toBe(200)
    expect(await index.text()).toContain('npm run build')
  })

  it('refuses a cross-origin request and a foreign Host header (DNS rebinding)', async () => {
    const cross = await h.api('/api/tasks', { ...post({ job: 'sleep' }), headers: { origin: 'http://evil.example' } })
    expect(cross.status).toBe(403)
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${h.server.url}/api/stats`, {
        headers: { host: `evil.example:${h.server.port}`, authorization: `Bearer ${h.server.token}` },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(403)
  })
})

describe('events WebSocket', () => {
  it('sends a snapshot, then batches with increasing seq', async () => {
    const client = await connectEvents(wsUrl(h.server))
    try {
      const snapshot = await client.next(isSnapshot)
      expect(client.messages[0]).toBe(snapshot)
      const [id] = await submit({ name: 'ws ticks', job: 'ticker', params: { steps: 4, intervalMs: 30 } })
      await client.next((m): m is EventBatch => isBatch(m) && m.tasks.some((t) => t.id === id && t.state === 'done'))
      const seqs = client.messages.filter(isBatch).map((b) => b.seq)
      expect(seqs.length).toBeGreaterThan(1)
      expect(seqs[0]).toBeGreaterThan(snapshot.seq)
      seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1]! + 1))
    } finally {
      await client.close()
    }
  })

  it('resyncs on request with a fresh snapshot', async () => {
    const client = await connectEvents(wsUrl(h.server))
    try {
      await client.next(isSnapshot)
      const [id] = await submit({ name: 'before resync', job: 'sleep', params: { ms: 1 } })
      await finalState(id!)
      // A resync answers with the picture as of the last batch the session sent: wait for that one.
      await client.next((m): m is EventBatch => isBatch(m) && m.tasks.some((t) => t.id === id && t.state === 'done'))
      const from = client.messages.length
      client.send({ type: 'resync' })
      const fresh = await client.next(isSnapshot, from)
      expect(fresh.tasks.find((t) => t.id === id)?.state).toBe('done')
      client.send({ type: 'no-such-message' })
      await client.next((m): m is { type: 'error'; error: string } => m.type === 'error', from)
    } finally {
      await client.close()
    }
  })

  it('streams a watched task log (ticker lines) until unwatched', async () => {
    const client = await connectEvents(wsUrl(h.server))
    try {
      await client.next(isSnapshot)
      const [id] = await submit({ name: 'logged ticks', job: 'ticker', params: { steps: 5, intervalMs: 40 } })
      client.send({ type: 'watch-log', id })
      await waitFor('all five log lines', () => {
        const lines = client.messages.flatMap((m) => (m.type === 'log' && m.id === id ? m.lines.map((l) => l.line) : []))
        return lines.length >= 5 && lines
      }).then((lines) => expect(lines).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']))
      client.send({ type: 'unwatch-log', id })
      client.send({ type: 'watch-log', id: 'no-such-task' })
      await client.next((m): m is { type: 'error'; error: string } => m.type === 'error' && m.error.includes('no-such-task'))
    } finally {
      await client.close()
    }
  })

  it('accepts the cookie and a same-origin Origin; refuses a foreign Origin (403) and no token (401)', async () => {
    const res = await fetch(`${h.server.url}/?token=${h.server.token}`, { redirect: 'manual' })
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!
    const ok = await connectEvents(wsUrl(h.server, ''), { headers: { cookie, origin: h.server.url } })
    await ok.next(isSnapshot)
    await ok.close()
    await expect(connectEvents(wsUrl(h.server), { headers: { origin: 'http://evil.example' } })).rejects.toThrow('HTTP 403')
    await expect(connectEvents(wsUrl(h.server, ''))).rejects.toThrow('HTTP 401')
    await expect(connectEvents(wsUrl(h.server, '?token=wrong'))).rejects.toThrow('HTTP 401')
  })

  it('drops a client that stops reading once its backlog passes 8 MB', async () => {
    const ids = await submit({ batch: { tasks: Array.from({ length: 400 }, (_, i) => ({ name: `filler ${i}`, job: 'sleep', params: { ms: 1 } })) } })
    await finalState(ids.at(-1)!)
    const before = h.server.clients
    // Uncompressed: the bound counts bytes waiting on the socket, and 200 deflated snapshots of 400 tasks stay under it.
    const client = await connectEvents(wsUrl(h.server), { perMessageDeflate: false })
    await client.next(isSnapshot)
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)))
    // Stop reading: what the server sends piles up in its buffer, as with a frozen tab.
    ;(client.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    for (let i = 0; i < 200; i++) client.send({ type: 'resync' })
    await waitFor('the server to give up on the client', () => h.server.clients === before)
    ;(client.ws as unknown as { _socket: { resume(): void } })._socket.resume()
    expect(await closed).toBe(1006)
  })

  it('drops its session when the socket closes; the engine keeps one subscription for every client', async () => {
    const engine = h.engine as unknown as { events: { listenerCount: number } }
    const listening = engine.events.listenerCount
    const before = h.server.clients
    const client = await connectEvents(wsUrl(h.server))
    await client.next(isSnapshot)
    expect(h.server.clients).toBe(before + 1)
    expect(engine.events.listenerCount).toBe(listening)
    await client.close()
    await waitFor('the session to go', () => h.server.clients === before)
  })
})

function rawGet(s: Harness, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: s.server.port,
      path: rawPath,
      headers: { authorization: `Bearer ${s.server.token}` },
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('static files', () => {
  let dir: string
  let s: Harness
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-static-'))
    await mkdir(path.join(dir, 'ui/assets'), { recursive: true })
    await writeFile(path.join(dir, 'ui/index.html'), '<!doctype html><title>Taskloop</title>')
    await writeFile(path.join(dir, 'ui/assets/app.js'), 'console.log(1)')
    await writeFile(path.join(dir, 'secret.txt'), 'secret')
    s = await startHarness({ staticDir: path.join(dir, 'ui') })
  })
  afterAll(async () => {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves index.html for / and assets with a CSP, and nothing outside the folder', async () => {
    const index = await s.api('/')
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toContain('text/html')
    const csp = index.headers.get('content-security-policy')!
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${s.server.port}`)
    expect(csp).toContain("frame-ancestors 'none'")
    expect(index.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await index.text()).toContain('<title>Taskloop</title>')
    const js = await s.api('/assets/app.js')
    expect(js.headers.get('content-type')).toContain('text/javascript')
    // Raw requests: fetch would normalize the dots away before they reach the server.
    for (const attempt of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const res = await rawGet(s, attempt)
      expect(res.status, attempt).toBe(404)
      expect(res.body).not.toBe('secret')
    }
  })
})

describe('shutdown', () => {
  it('answers 503 to submissions once the engine is shutting down, and /api/quit with 202', async () => {
    const s = await startHarness({ auth: false })
    try {
      const quit = new Promise<void>((resolve) => s.engine.onQuitRequested(() => resolve()))
      const res = await fetch(`${s.server.url}/api/quit`, { method: 'POST', headers: { 'content-type': 'application/json' } })
      expect(res.status).toBe(202)
      await quit
      await s.engine.shutdown()
      const refused = await fetch(`${s.server.url}/api/tasks`, post({ job: 'sleep' }))
      expect(refused.status).toBe(503)
    } finally {
      await s.close()
    }
  })
})
