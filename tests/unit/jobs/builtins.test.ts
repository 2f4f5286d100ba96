import { mkdtempSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { MAX_RESULT_CHARS } from '../../../common/defaults'
import { BUILTIN_JOBS } from '../../../common/types'
import { BUILTINS, checkParams } from '../../../engine/jobs/builtins'
import type { JobContext } from '../../../engine/jobs/job'
import { primitives } from '../../../engine/jobs/primitives'

function ctx(over: Partial<JobContext> = {}): JobContext & { heard: { progress: unknown[]; logs: string[] } } {
  const heard = { progress: [] as unknown[], logs: [] as string[] }
  return {
    signal: new AbortController().signal,
    progress: (f, m) => heard.progress.push([f, m]),
    log: (l) => heard.logs.push(l),
    inputs: [],
    taskId: 't',
    attempt: 1,
    executor: 'loop',
    cwd: process.cwd(),
    // The primitives need an engine: these unit tests run jobs that do not call one.
    ...primitives(() => Promise.reject(new Error('no engine in this unit test'))),
    heard,
    ...over,
  }
}

const run = (job: keyof typeof BUILTINS, params: Record<string, unknown>, c = ctx()) => Promise.resolve(BUILTINS[job](params, c))

describe('built-in jobs', () => {
  it('has one function per name in the contract', () => {
    expect(Object.keys(BUILTINS).sort()).toEqual([...BUILTIN_JOBS].sort())
  })

  it.each([
    ['sleep', {}, 'sleep: params.ms is required (a number, 0 or more)'],
    ['sleep', { ms: -5 }, 'sleep: params.ms must be 0 or more'],
    ['sleep', { ms: '10' }, 'sleep: params.ms must be a number'],
    ['sleep', { ms: 1, ignoreCancel: 'yes' }, 'sleep: params.ignoreCancel must be true or false'],
    ['spin', { ms: Infinity }, 'spin: params.ms must be a number'],
    ['primes', { below: 1.5 }, 'primes: params.below must be a whole number'],
    ['primes', { below: 1e12 }, 'primes: params.below must be at most 1000000000'],
    ['hash', {}, 'hash: params.bytes or params.path must be given'],
    ['hash', { bytes: -1 }, 'hash: params.bytes must be 0 or more'],
    ['hash', { path: '' }, 'hash: params.path must be a non-empty text'],
    ['ticker', { steps: 2, intervalMs: 'x' }, 'ticker: params.intervalMs must be a number'],
    ['fail', { message: 3 }, 'fail: params.message must be a non-empty text'],
    ['crash', { afterMs: -1 }, 'crash: params.afterMs must be 0 or more'],
    ['http', {}, 'http: params.url must be a non-empty text'],
    ['http', { url: 'not a url' }, 'http: params.url must be an absolute URL'],
    ['sleep-seconds', {}, 'sleep-seconds: params.item is required (a number, 0 or more)'],
    ['sleep-seconds', { item: 'two' }, 'sleep-seconds: params.item must be a number'],
    ['sleep-seconds', { item: '-1' }, 'sleep-seconds: params.item must be 0 or more'],
  ] as const)('%s %j → TypeError in the user\'s words; submit checks the same', async (job, params, message) => {
    const e = await run(job, params).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(TypeError)
    expect((e as Error).message).toBe(message)
    const checked = checkParams(job, params)
    expect(`${job}: params.${checked?.key} ${checked?.rule}`).toBe(message)
  })

  it('good params pass the submit check', () => {
    expect(checkParams('sleep', { ms: 0 })).toBeNull()
    expect(checkParams('hash', { path: 'x' })).toBeNull()
    expect(checkParams('fail', {})).toBeNull()
    expect(checkParams('sleep-seconds', { item: ' 0.5 ' })).toBeNull()
  })

  it('sleep-seconds sleeps params.item seconds, given as text as Redis list items are', async () => {
    const t0 = performance.now()
    await expect(run('sleep-seconds', { item: '0.05' })).resolves.toEqual({ seconds: 0.05 })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45)
    await expect(run('sleep-seconds', { item: 0 })).resolves.toEqual({ seconds: 0 })
  })

  it('sleep rejects with an AbortError on abort, unless it ignores cancel', async () => {
    const ac = new AbortController()
    const p = run('sleep', { ms: 10_000 }, ctx({ signal: ac.signal }))
    ac.abort()
    await expect(p).rejects.toMatchObject({ name: 'AbortError' })
    const ac2 = new AbortController()
    const q = run('sleep', { ms: 30, ignoreCancel: true }, ctx({ signal: ac2.signal }))
    ac2.abort()
    await expect(q).resolves.toEqual({ ms: 30 })
  })

  it('primes counts correctly', async () => {
    await expect(run('primes', { below: 2 })).resolves.toEqual({ count: 0, largest: null })
    await expect(run('primes', { below: 3 })).resolves.toEqual({ count: 1, largest: 2 })
    await expect(run('primes', { below: 1_000_000 })).resolves.toEqual({ count: 78498, largest: 999983 })
    const isPrime = (n: number): boolean => n > 1 && Array.from({ length: n - 2 }, (_, i) => i + 2).every((d) => d * d > n || n % d)
    for (let below = 0; below <= 60; below++) {
      const ps = Array.from({ length: below }, (_, i) => i).filter(isPrime)
      await expect(run('primes', { below })).resolves.toEqual({ count: ps.length, largest: ps.at(-1) ?? null })
    }
  })

  it('hash of generated bytes matches the documented pattern, and hashes files', async () => {
    const n = 200_000
    const bytes = Buffer.from(Array.from({ length: n }, (_, k) => k & 0xff))
    const expected = createHash('sha256').update(bytes).digest('hex')
    await expect(run('hash', { bytes: n })).resolves.toEqual({ sha256: expected, bytes: n })
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-hash-'))
    writeFileSync(path.join(dir, 'f.bin'), bytes)
    await expect(run('hash', { path: 'f.bin' }, ctx({ cwd: dir }))).resolves.toEqual({ sha256: expected, bytes: n })
  })

  it('ticker reports each step; fail throws its message; crash refuses the loop', async () => {
    const c = ctx()
    await expect(run('ticker', { steps: 2, intervalMs: 1 }, c)).resolves.toEqual({ steps: 2 })
    expect(c.heard.progress).toEqual([
      [0.5, 'step 1/2'],
      [1, 'step 2/2'],
    ])
    expect(c.heard.logs).toEqual(['tick 1', 'tick 2'])
    await expect(run('fail', { message: 'bad day', afterMs: 1 })).rejects.toThrow(/^bad day$/)
    await expect(run('crash', {})).rejects.toThrow('crash only runs on the thread or process executor')
  })

  it('http returns status, headers and body (JSON parsed, text otherwise, capped); a status ≥ 400 fails unless okStatus accepts it', async () => {
    const { createServer } = await import('node:http')
    const server = createServer((req, res) => {
      if (req.url === '/json') {
        res.setHeader('content-type', 'application/json; charset=utf-8')
        return res.end(JSON.stringify({ items: [1, 2] }))
      }
      if (req.url === '/big') return res.end('x'.repeat(200_000))
      res.statusCode = req.url === '/missing' ? 404 : req.url === '/broken' ? 503 : 200
      res.setHeader('x-test', 'yes')
      res.end(req.url === '/missing' ? 'no such page' : 'hello')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    try {
      await expect(run('http', { url: `${base}/` })).resolves.toMatchObject({ status: 200, headers: { 'x-test': 'yes' }, body: 'hello', bytes: 5 })
      await expect(run('http', { url: `${base}/json` })).resolves.toMatchObject({ status: 200, body: { items: [1, 2] } })
      const big = (await run('http', { url: `${base}/big` })) as { body: string; bytes: number; truncated: boolean }
      expect([big.body.length, big.bytes, big.truncated]).toEqual([MAX_RESULT_CHARS / 2, 200_000, true])
      const missing = await run('http', { url: `${base}/missing` }).catch((e: unknown) => e)
      expect(missing).toMatchObject({ name: 'HttpError', code: 404 })
      expect((missing as Error).message).toBe(`HTTP 404 Not Found from GET ${base}/missing: no such page`)
      await expect(run('http', { url: `${base}/missing`, okStatus: [404] })).resolves.toMatchObject({ status: 404, body: 'no such page' })
      await expect(run('http', { url: `${base}/broken`, okStatus: ['500-599'] })).resolves.toMatchObject({ status: 503 })
      await expect(run('http', { url: `${base}/broken`, okStatus: [404] })).rejects.toMatchObject({ code: 503 })
      await expect(run('http', { url: `${base}/`, okStatus: 'all' })).rejects.toThrow('http: params.okStatus must be a list')
    } finally {
      server.close()
    }
    await expect(run('http', { url: `${base}/` })).rejects.toThrow()
  })
})
