// Runs sent ahead to pool workers: states stay honest, a cancel before the start never calls
// the job, a long job holds no short one while a worker is free, and per-worker busy time.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Engine } from '../../../engine/engine'
import { ProcessPool } from '../../../engine/executors/process-pool'
import { ThreadPool } from '../../../engine/executors/thread-pool'
import { KILLED_MESSAGE, type WorkerPool } from '../../../engine/executors/pool'
import { CANCELLED_BEFORE_START } from '../../../engine/executors/protocol'
import { waitFinal, waitState } from '../../helpers/engine'
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

/** Tiny unless told otherwise: once the pool has seen it run, many of its runs go to a child at once. */
const sometimes = path.join(jobsDir, 'sometimes.mjs')
writeFileSync(
  sometimes,
  `import { appendFileSync } from 'node:fs'
export default async function (params, ctx) {
  if (params.file) appendFileSync(params.file, params.n + '\\n')
  if (params.exitAfterMs !== undefined) {
    ctx.progress(0)
    await new Promise((r) => setTimeout(r, params.exitAfterMs))
    process.exit(3)
  }
  if (params.spinMs !== undefined) {
    ctx.progress(0)
    const end = Date.now() + params.spinMs
    while (Date.now() < end) {} // deaf to its signal: only a kill ends it
  }
  return params.n
}`,
)

describe('process pool: runs sent ahead to a child, as many as its jobs are short', () => {
  const pools: ProcessPool[] = []
  afterAll(() => Promise.all(pools.map((p) => p.close())))
  /** A pool of `size` that has seen `sometimes` run short, so the next runs of it go many to a child. */
  const taught = async (size: number): Promise<ProcessPool> => {
    const p = new ProcessPool({ size })
    pools.push(p)
    await p.warm()
    const runs = Array.from({ length: 60 }, (_, n) => drive(p, { job: sometimes, params: { n } }))
    expect(await Promise.all(runs.map((r) => succeeds(r.outcome)))).toEqual(runs.map((_, n) => n))
    return p
  }
  const behind = (p: ProcessPool, n: number): ReturnType<typeof drive>[] =>
    Array.from({ length: n }, (_, i) => drive(p, { job: sometimes, params: { n: 100 + i } }))

  it('a job not seen yet holds at most one run behind it while another child is free', async () => {
    const p = await taught(2)
    const long = drive(p, { job: 'spin', params: { ms: 1500 } })
    const short = behind(p, 20)
    let longDone = false
    void long.outcome.then(() => (longDone = true))
    let before = 0
    await Promise.all(short.map((s) => succeeds(s.outcome).then(() => void (longDone || before++))))
    expect(before).toBeGreaterThanOrEqual(19)
    await succeeds(long.outcome)
  })

  it('a crash fails only the run that crashed its child; the runs queued there run on the replacement', async () => {
    const p = await taught(1)
    const crash = drive(p, { job: sometimes, params: { exitAfterMs: 50 } })
    const queued = behind(p, 10)
    await waitFor(() => crash.heard.worker !== null, 10_000, 'the crashing run to start')
    const f = await fails(crash.outcome)
    expect(f.kind).toBe('crashed')
    expect(f.message).toMatch(/exited with code 3/)
    expect(await Promise.all(queued.map((q) => succeeds(q.outcome)))).toEqual(queued.map((_, i) => 100 + i))
    // Each ran once, on the replacement: none was reported started in the child that died.
    expect(new Set(queued.map((q) => q.heard.worker)).size).toBe(1)
    expect(queued[0]!.heard.worker).not.toBe(crash.heard.worker)
  })

  it('runs held behind crashing runs are sent again as often as it takes; only a run that may have started counts', async () => {
    const p = await taught(1)
    const crashes = [1, 2, 3].map(() => drive(p, { job: sometimes, params: { exitAfterMs: 50 } }))
    const queued = behind(p, 10)
    for (const c of crashes) expect(await fails(c.outcome)).toMatchObject({ kind: 'crashed', message: expect.stringMatching(/exited with code 3/) })
    expect(await Promise.all(queued.map((q) => succeeds(q.outcome)))).toEqual(queued.map((_, i) => 100 + i))
  })

  it('a kill forces only its own run; one cancelled while queued never runs, the others run on', async () => {
    const p = await taught(1)
    const file = path.join(jobsDir, `marks-ahead-${Date.now()}`)
    const stuck = drive(p, { job: sometimes, params: { spinMs: 60_000 } })
    const queued = behind(p, 10)
    const dropped = drive(p, { job: sometimes, params: { n: -1, file } })
    await waitFor(() => stuck.heard.worker !== null, 10_000, 'the deaf run to start')
    dropped.run.cancel()
    expect(await fails(dropped.outcome)).toMatchObject({ kind: 'error', message: CANCELLED_BEFORE_START })
    stuck.run.cancel() // not heard: the job never looks at its signal
    expect(stuck.run.kill()).toBe(true)
    expect(await fails(stuck.outcome)).toMatchObject({ kind: 'crashed', message: KILLED_MESSAGE })
    expect(await Promise.all(queued.map((q) => succeeds(q.outcome)))).toEqual(queued.map((_, i) => 100 + i))
    expect(queued.every((q) => q.heard.worker !== stuck.heard.worker)).toBe(true)
    expect(marks(file)).toEqual([])
  })
})

describe('engine, runs sent ahead taken back', () => {
  it.each(['thread', 'process'] as const)('%s: pausing and changing the limit while short runs stream calls each job exactly once', async (executor) => {
    // Runs sent ahead come back to the queue on a pause or a new limit; one its worker has just
    // taken must run on where it is, not go back and run a second time.
    const engine = new Engine({ limits: { [executor]: 2 } })
    try {
      const file = path.join(jobsDir, `marks-stream-${executor}-${Date.now()}`)
      const n = 1500
      const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: n }, (_, i) => ({ job: marker, executor, params: { file, tag: String(i) } })) } })
      let ended = false
      const finals = waitFinal(engine, ids, 60_000).finally(() => (ended = true))
      for (let turn = 0; !ended; turn++) {
        await engine.pause()
        await engine.resume()
        // A new limit every turn: a worker leaves, or one comes (or stays). Faster than a worker
        // starts on a loaded machine: the pool must keep its oldest start (see resize).
        await engine.setLimits({ [executor]: turn % 2 === 0 ? 1 : 2 })
        await delay(turn % 3)
      }
      expect((await finals).filter((t) => t.state !== 'done')).toEqual([])
      const seen = marks(file)
      expect(seen).toHaveLength(n)
      expect(new Set(seen).size).toBe(n)
    } finally {
      await engine.shutdown()
    }
  }, 90_000)

  it.each(['thread', 'process'] as const)('%s: a limit lowered and raised again before the leaving worker is done keeps that worker', async (executor) => {
    const engine = new Engine({ limits: { [executor]: 2 } })
    try {
      const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 2 }, () => ({ job: 'sleep', executor, params: { ms: 600 } })) } })
      await Promise.all(ids.map((id) => waitState(engine, id, 'running')))
      const labels = async (): Promise<string[]> => (await engine.stats()).workers.filter((w) => w.executor === executor).map((w) => w.label).sort()
      const before = await labels()
      expect(before).toHaveLength(2)
      await engine.setLimits({ [executor]: 1 })
      await engine.setLimits({ [executor]: 2 })
      expect((await waitFinal(engine, ids)).map((t) => t.state)).toEqual(['done', 'done'])
      expect(await labels()).toEqual(before)
    } finally {
      await engine.shutdown()
    }
  })
})
