import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { KILLED_MESSAGE } from '../../../engine/executors/pool'
import { ThreadPool } from '../../../engine/executors/thread-pool'
import { jobsDir } from './fixtures'
import { drive, fails, succeeds, waitFor } from './harness'
import { poolSuite } from './pool-suite'

poolSuite('thread', (size) => new ThreadPool({ size }), /^thread \d+$/)

describe('thread pool after forced stops', () => {
  const p = new ThreadPool({ size: 2 })
  afterAll(() => p.close())

  it('the spare takes a killed worker’s place at once; the pool refills only once the kills stop', async () => {
    await p.warm() // two workers and a spare
    const busy = [1, 2].map(() => drive(p, { job: 'spin', params: { ms: 60_000, ignoreCancel: true } }))
    await waitFor(() => busy.every((b) => b.heard.worker !== null), 10_000, 'both spins to start')
    const labels = new Set(p.workerStats().map((w) => w.label))
    expect(busy[0]!.run.kill()).toBe(true)
    expect(p.workers()).toBe(2) // the spare, already started
    const spare = p.workerStats().find((w) => !labels.has(w.label))
    expect(spare).toBeDefined()
    expect(busy[1]!.run.kill()).toBe(true)
    // No spare left, and nothing waits: no worker is started on the kill's path.
    expect(p.workers()).toBe(1)
    for (const b of busy) expect(await fails(b.outcome)).toMatchObject({ kind: 'crashed', message: KILLED_MESSAGE })
    // A run meanwhile takes the idle worker.
    const next = drive(p, { job: 'primes', params: { below: 100 } })
    expect(await succeeds(next.outcome)).toEqual({ count: 25, largest: 97 })
    expect(next.heard.worker).toBe(spare!.label)
    await waitFor(() => p.workers() === 2, 10_000, 'the pool to refill')
  })

  it('a run that finds no free worker gets a new one at once, not after the refill delay', async () => {
    const busy = [1, 2].map(() => drive(p, { job: 'spin', params: { ms: 60_000, ignoreCancel: true } }))
    await waitFor(() => busy.every((b) => b.heard.worker !== null), 10_000, 'both spins to start')
    for (const b of busy) b.run.kill()
    // Whatever the spare did, this run needs a worker: it must not wait for the pool to be quiet.
    const waiting = [1, 2, 3].map((n) => drive(p, { job: 'primes', params: { below: 10 * n } }))
    expect(p.workers()).toBe(1)
    await Promise.resolve() // the pool places runs in a microtask
    expect(p.workers()).toBe(2)
    await Promise.all(waiting.map((w) => succeeds(w.outcome)))
  })
})

// A thread running jobs that were short last time holds their reports in its ring and rings every
// few ms: what the pool hears must stay whole, in order, and timely whatever the job does.
describe('thread pool: reports held in the ring', () => {
  const file = path.join(jobsDir, 'ring-jobs.mjs')
  writeFileSync(
    file,
    `export function quick(params, ctx) {
  ctx.log('log ' + params.n)
  console.log('out ' + params.n)
  return params.n
}
export function quiet(params) {
  const end = performance.now() + params.ms
  while (performance.now() < end);
  return params.ms
}
`,
  )
  const p = new ThreadPool({ size: 1 })
  afterAll(() => p.close())

  it('a stream of short runs: each run is heard started, with its own lines in order, and with its result', async () => {
    const runs = Array.from({ length: 300 }, (_, n) => {
      const d = drive(p, { job: `${file}#quick`, params: { n } })
      // The start is heard before the end, whatever message carried them.
      const startedFirst = d.outcome.then(() => d.heard.worker !== null)
      return { ...d, n, startedFirst }
    })
    for (const r of runs) {
      expect(await succeeds(r.outcome)).toBe(r.n)
      expect(await r.startedFirst).toBe(true)
      expect(r.heard.logs).toEqual([
        { line: `log ${r.n}`, stream: 'log' },
        { line: `out ${r.n}`, stream: 'stdout' },
      ])
    }
  })

  it('a job short last time that runs long anyway: its start and the end before it are heard while it runs', async () => {
    for (let i = 0; i < 5; i++) await succeeds(drive(p, { job: `${file}#quiet`, params: { ms: 0 } }).outcome)
    // Sent to the worker together: the long one starts right behind the short one, reports held.
    const short = drive(p, { job: `${file}#quiet`, params: { ms: 0 } })
    const long = drive(p, { job: `${file}#quiet`, params: { ms: 60_000 } })
    expect(await succeeds(short.outcome)).toBe(0)
    await waitFor(() => long.heard.worker !== null, 10_000, 'the long run to be heard started')
    // A busy job that never yields: only a kill ends it, and the kill knows it started.
    expect(long.run.kill()).toBe(true)
    expect(await fails(long.outcome)).toMatchObject({ kind: 'crashed', message: KILLED_MESSAGE })
  })

  it('a lone short run is heard ended at once, not after the hold', async () => {
    await succeeds(drive(p, { job: `${file}#quiet`, params: { ms: 0.1 } }).outcome)
    const times: number[] = []
    for (let i = 0; i < 20; i++) times.push((await drive(p, { job: `${file}#quiet`, params: { ms: 0.1 } }).outcome).ms)
    // Generous: a loaded machine; a worker that held its lone report would add a watchdog tick to each.
    times.sort((a, b) => a - b)
    expect(times[10]).toBeLessThan(50)
  })
})

describe('thread pool resized faster than a thread starts', () => {
  it('a size flipped between 1 and 2 every few ms keeps its oldest starting thread, which gets ready and runs', async () => {
    const p = new ThreadPool({ size: 1 })
    try {
      // The first thread starting takes one run; the other waits in the backlog for a thread.
      const runs = [1, 2].map(() => drive(p, { job: 'primes', params: { below: 100 } }))
      let ended = false
      void Promise.all(runs.map((r) => r.outcome)).finally(() => (ended = true))
      // Each grow starts a thread, each shrink lets one still starting go: were it the oldest
      // every time, no thread would ever get ready while the flips go on.
      let turn = 0
      for (; !ended && turn < 1000; turn++) {
        p.resize(turn % 2 === 0 ? 2 : 1)
        await new Promise((r) => setTimeout(r, 2))
      }
      expect(turn).toBeLessThan(1000)
      for (const r of runs) expect(await succeeds(r.outcome)).toEqual({ count: 25, largest: 97 })
    } finally {
      await p.close()
    }
  }, 60_000)
})
