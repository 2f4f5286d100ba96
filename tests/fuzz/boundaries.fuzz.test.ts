// Property-based fuzzing of the two outside boundaries with the real engine behind them:
// the Electron IPC handlers (without Electron: they are plain functions) and the HTTP API over a
// real socket. The engine's intake is paused so no fuzzed spec ever runs (a random string can be a
// shell command); the shutdown at the end cancels everything that was accepted.
import http from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INVOKE } from '../../common/ipc'
import { Engine } from '../../engine/engine'
import { createIpcHandlers, type InvokeName } from '../../main/ipc-handlers'
import { startServer, type TaskloopServer } from '../../server/server'

const RUNS = Number(process.env.FUZZ_RUNS ?? 600)

let engine: Engine
let server: TaskloopServer
beforeAll(async () => {
  engine = new Engine()
  await engine.pause()
  server = await startServer({ engine, token: 'fuzz-token-0123456789abcdef' })
})
afterAll(async () => {
  await server.close()
  await engine.shutdown({ graceMs: 100 })
  const stats = await engine.stats()
  console.log(`fuzz: ${stats.counters.cancelled} fuzzed specs were accepted (valid), none ran; the rest were refused`)
  // Nothing fuzzed ever ran, and the accepting path was exercised.
  expect(stats.counters.done + stats.counters.failed + stats.counters.running).toBe(0)
  expect(stats.counters.cancelled).toBeGreaterThan(0)
})

const hostile = fc.oneof(
  // Valid specs too, so the accepting path is fuzzed as well (the intake is paused: they never run).
  // Submit checks built-in params and that a named job exists: valid means params in range.
  fc.record({ job: fc.constantFrom('sleep', 'spin'), params: fc.record({ ms: fc.nat({ max: 1000 }) }), priority: fc.integer({ min: -5, max: 5 }) }),
  fc.record({ job: fc.constantFrom('fail', 'x.mjs#run'), params: fc.dictionary(fc.string(), fc.jsonValue()), priority: fc.integer({ min: -5, max: 5 }) }),
  fc.anything(),
  fc.jsonValue(),
  fc.constantFrom('__proto__', 'constructor', '', 'x'.repeat(100_000), '../../etc/passwd', '%00', '#0'),
  fc.record({ job: fc.string(), params: fc.anything(), executor: fc.anything(), after: fc.anything() }, { requiredKeys: [] }),
  fc.record({ batch: fc.record({ tasks: fc.array(fc.anything(), { maxLength: 4 }), concurrency: fc.anything() }, { requiredKeys: [] }) }),
)

describe(`IPC handlers fuzz (${RUNS} runs)`, () => {
  it('every handler answers an envelope for any payload: a value, or a refusal naming the problem', async () => {
    const { handlers, dispose } = createIpcHandlers(engine, () => {})
    // Never quit, never resume: the paused intake is what keeps fuzzed specs from running.
    const names = Object.keys(INVOKE).filter((n) => n !== 'quit' && n !== 'resume') as InvokeName[]
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...names), fc.array(hostile, { maxLength: 3 }), async (name, args) => {
        const result = await handlers[name](...args)
        if (!result.ok) {
          expect(['invalid', 'not-found', 'conflict', 'overloaded']).toContain(result.error.code)
          expect(result.error.error.length).toBeGreaterThan(0)
          if (result.error.code === 'invalid') expect(result.error.error.startsWith(`${result.error.path}: `)).toBe(true)
        }
      }),
      { numRuns: RUNS },
    )
    dispose()
  })
})

function request(method: string, path: string, headers: Record<string, string>, body: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // An explicit length: Node's client sends DELETE bodies unframed otherwise, which is a malformed request.
    const framed = body === null ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }
    const req = http.request(`${server.url}${path}`, { method, headers: framed, timeout: 5000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} hung`)))
    req.on('error', reject)
    if (body !== null) req.write(body)
    req.end()
  })
}

describe(`HTTP API fuzz (${RUNS} runs)`, () => {
  const auth = { authorization: 'Bearer fuzz-token-0123456789abcdef' }
  const paths = fc.oneof(
    // No /api/resume and no /api/quit: the paused intake keeps fuzzed specs from running.
    fc.constantFrom('/api/tasks', '/api/cancel-all', '/api/stats', '/api/limits', '/api/pause', '/api/group-limits', '/api/snapshot', '/api/history', '/api/history?limit=2&state=done'),
    fc.string().map((s) => `/api/tasks/${encodeURIComponent(s)}`),
    fc.string().map((s) => `/api/tasks/${encodeURIComponent(s)}/cancel`),
    fc.string().map((s) => `/api/batches/${encodeURIComponent(s)}`),
    fc
      .string()
      .filter((s) => !/^(resume|quit)$/i.test(s))
      .map((s) => `/api/${encodeURIComponent(s)}?state=${encodeURIComponent(s)}&limit=${encodeURIComponent(s)}`),
  )
  const bodies = fc.oneof(
    fc.constant(null),
    hostile.map((v) => {
      try {
        return JSON.stringify(v) ?? 'null'
      } catch {
        return '{"unserializable":true}'
      }
    }),
    fc.string(), // not JSON at all
  )

  it('any method, path and body: a JSON answer with a 2xx/4xx/503 status, never a 500, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), paths, bodies, async (method, path, body) => {
        const res = await request(method, path, { ...auth, 'content-type': 'application/json' }, method === 'GET' ? null : body)
        expect([200, 201, 202, 400, 404, 405, 409, 413, 429, 503]).toContain(res.status)
        if (res.status >= 400) expect(JSON.parse(res.body)).toHaveProperty('error')
      }),
      { numRuns: RUNS },
    )
  })

  it('without the right token every route is refused, and the server is healthy after all of it', async () => {
    await fc.assert(
      fc.asyncProperty(paths, fc.oneof(fc.constant(''), fc.string(), fc.constant('Bearer fuzz-token-0123456789abcdeF')), async (path, token) => {
        const headers: Record<string, string> = token ? { authorization: token.replace(/[^\x20-\x7e]/g, '') } : {}
        const res = await request('GET', path, headers, null)
        expect(res.status).toBe(401)
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    )
    const stats = await request('GET', '/api/stats', auth, null)
    expect(stats.status).toBe(200)
    expect(JSON.parse(stats.body).paused).toBe(true)
  })
})
