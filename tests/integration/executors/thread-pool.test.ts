import { afterAll, describe, expect, it } from 'vitest'
import { KILLED_MESSAGE } from '../../../engine/executors/pool'
import { ThreadPool } from '../../../engine/executors/thread-pool'
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
