// Runs sent ahead to pool workers: states stay honest, a cancel before the start never calls
// the job, a long job holds no short one while a worker is free, and per-worker busy time.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Engine } from '../../../engine/engine'
import { ProcessPool } from '../../../engine/executors/process-pool'
import { ThreadPool } from '../../../engine/executors/thread-pool'
import type { WorkerPool } from '../../../engine/executors/pool'
import { CANCELLED_BEFORE_START } from '../../../engine/executors/protocol'
import { waitState } from '../../helpers/engine'
import { delay, drive, fails, succeeds, waitFor } from './harness'
import { jobsDir } from './fixtures'

/** A job that leaves a mark in a file: proof that it was called. */
const marker = path.join(jobsDir, 'marker.mjs')
writeFileSync(
  marker,
  `import { appendFileSync } from 'node:fs'
export default function (params) {
  appendFileSync(params.file, params.tag + '\\n')
  return params.tag
}`,
)
const marks = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

describe.each([
  ['thread', (size: number) => new ThreadPool({ size })],
  ['process', (size: number) => new ProcessPool({ size })],
] as const)('%s pool, runs sent ahead', (kind, make: (size: number) => WorkerPool) => {
  const pools: WorkerPool[] = []
  const pool = (size: number): WorkerPool => {
    const p = make(size)
    pools.push(p)
    return p
  }
  afterAll(() => Promise.all(pools.map((p) => p.close())))

  it('a run queued behind a busy worker is not started, and a cancel ends it without calling the job', async () => {
    const p = pool(1)
    await p.warm()
    const file = path.join(jobsDir, `marks-${kind}-${Date.now()}`)
    const long = drive(p, { job: 'spin', params: { ms: 600 } })
    const queued = drive(p, { job: marker, params: { file, tag: 'queued' } })
    await waitFor(() => long.heard.progress.length > 0, 10_000, 'the long job to run')
    await delay(50) // the queued run has reached the worker by now
    expect(queued.heard.worker).toBeNull() // not started: the task would still be pending
    queued.run.cancel()
    expect(await fails(queued.outcome)).toMatchObject({ kind: 'error', message: CANCELLED_BEFORE_START })
    await succeeds(long.outcome)
    // The worker goes on with later runs; the cancelled one never ran.
    expect(await succeeds(drive(p, { job: marker, params: { file, tag: 'after' } }).outcome)).toBe('after')
    expect(marks(file)).toEqual(['after'])
  })
})

describe('thread pool: no short job waits behind a long one while a thread is free', () => {
  const p = new ThreadPool({ size: 2 })
  afterAll(() => p.close())

  it('an idle thread takes back what was queued behind a long job', async () => {
    await p.warm()
    const long = drive(p, { job: 'spin', params: { ms: 1500 } })
    // Sent together: some land in the long job's queue before anyone knows it is long.
    const short = Array.from({ length: 20 }, (_, i) => drive(p, { job: 'primes', params: { below: 100 + i } }))
    let longDone = false
    void long.outcome.then(() => (longDone = true))
    const t0 = performance.now()
    await Promise.all(short.map((s) => succeeds(s.outcome)))
    // All done while the long job still runs: none waited behind it. (Which thread ran what is
    // the pool's business: the long run itself may move before its thread claims it.)
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(longDone).toBe(false)
    await succeeds(long.outcome)
  })

  it('reports busy time, runs and utilization per worker', async () => {
    const sum = (f: (w: ReturnType<typeof p.workerStats>[number]) => number): number => p.workerStats().reduce((n, w) => n + f(w), 0)
    const runs0 = sum((w) => w.runs)
    const busy0 = sum((w) => w.busyMs)
    await Promise.all([1, 2].map(() => succeeds(drive(p, { job: 'spin', params: { ms: 300 } }).outcome)))
    const stats = p.workerStats()
    expect(stats).toHaveLength(2)
    for (const w of stats) {
      expect(w).toMatchObject({ label: expect.stringMatching(/^thread \d+$/), executor: 'thread' })
      expect(w.utilization).toBeGreaterThanOrEqual(0)
      expect(w.utilization).toBeLessThanOrEqual(1)
    }
    // Where each run landed is the pool's business; the books must hold both, timed in the worker.
    expect(sum((w) => w.runs) - runs0).toBe(2)
    // Two 300 ms spins: the worker's clock and the job's may differ by a few ms per run under load,
    // so a generous bound (the point is that busy time is counted, not its last millisecond).
    expect(sum((w) => w.busyMs) - busy0).toBeGreaterThanOrEqual(2 * 300 * 0.9)
    expect(Math.max(...stats.map((w) => w.utilization))).toBeGreaterThan(0)
  })
})

describe('engine with a thread pool of 1', () => {
  it('a handed task stays pending until its job starts; cancelled then, it never started', async () => {
    const engine = new Engine({ limits: { thread: 1 } })
    try {
      const file = path.join(jobsDir, `marks-engine-${Date.now()}`)
      const [long] = (await engine.submit({ job: 'spin', executor: 'thread', params: { ms: 800 } })).ids
      const [next] = (await engine.submit({ job: marker, executor: 'thread', params: { file, tag: 'next' } })).ids
      const [last] = (await engine.submit({ job: marker, executor: 'thread', params: { file, tag: 'last' } })).ids
      await waitState(engine, long!, 'running')
      await delay(50)
      const stats = await engine.stats()
      expect(stats.pools.thread).toMatchObject({ running: 1, pending: 2 })
      expect(await engine.get(next!)).toMatchObject({ state: 'pending', startedAt: null, worker: null })
      await engine.cancel(next!)
      expect(await engine.get(next!)).toMatchObject({ state: 'cancelled', reason: 'user', startedAt: null })
      const done = await waitState(engine, last!, 'done')
      expect(done.startedAt).toBeGreaterThanOrEqual((await engine.get(long!)).endedAt! - 5)
      expect(marks(file)).toEqual(['last'])
      const workers = (await engine.stats()).workers.filter((w) => w.executor === 'thread')
      expect(workers).toHaveLength(1)
      expect(workers[0]!.runs).toBeGreaterThanOrEqual(2)
      expect(workers[0]!.busyMs).toBeGreaterThanOrEqual(790)
    } finally {
      await engine.shutdown()
    }
  })
})
