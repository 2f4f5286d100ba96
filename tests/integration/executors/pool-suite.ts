// The same behaviour asked of the thread pool and the process pool.
import { afterAll, describe, expect, it } from 'vitest'
import { KILLED_MESSAGE, type WorkerPool } from '../../../engine/executors/pool'
import { delay, drive, fails, succeeds, waitFor } from './harness'
import { modules } from './fixtures'

export function poolSuite(kind: 'thread' | 'process', make: (size: number) => WorkerPool, label: RegExp): void {
  describe(`${kind} pool`, () => {
    const pool = make(2)
    afterAll(() => pool.close())

    it('runs sleep, spin and ticker, reporting its worker, progress and logs', async () => {
      const sleep = drive(pool, { job: 'sleep', params: { ms: 50 } })
      const spin = drive(pool, { job: 'spin', params: { ms: 100 } })
      expect(await succeeds(sleep.outcome)).toEqual({ ms: 50 })
      expect(await succeeds(spin.outcome)).toMatchObject({ ms: 100, iterations: expect.any(Number) })
      expect(sleep.heard.worker).toMatch(label)
      expect(spin.heard.worker).toMatch(label)
      expect(spin.heard.progress.at(-1)?.[0]).toBe(1)

      const ticker = drive(pool, { job: 'ticker', params: { steps: 3, intervalMs: 20 } })
      expect(await succeeds(ticker.outcome)).toEqual({ steps: 3 })
      expect(ticker.heard.progress).toEqual([
        [1 / 3, 'step 1/3'],
        [2 / 3, 'step 2/3'],
        [1, 'step 3/3'],
      ])
      expect(ticker.heard.logs).toEqual([1, 2, 3].map((i) => ({ line: `tick ${i}`, stream: 'log' })))
    })

    it('cancels cooperatively: the signal reaches the job inside the worker', async () => {
      const ticker = drive(pool, { job: 'ticker', params: { steps: 1000, intervalMs: 20 } })
      await waitFor(() => ticker.heard.progress.length > 0, 10_000, 'first tick')
      ticker.run.cancel()
      const f = await fails(ticker.outcome)
      expect(f.kind).toBe('error')
      expect(f.message).toMatch(/abort/i)

      const spin = drive(pool, { job: 'spin', params: { ms: 20_000 } })
      await waitFor(() => spin.heard.progress.length > 0, 10_000, 'spin progress')
      const t = performance.now()
      spin.run.cancel()
      expect((await fails(spin.outcome)).kind).toBe('error')
      expect(performance.now() - t).toBeLessThan(1000)

      const mod = drive(pool, { job: `${modules.good}#waitForCancel` })
      await waitFor(() => mod.heard.progress.length > 0, 10_000, 'the job to listen')
      mod.run.cancel()
      expect((await fails(mod.outcome)).message).toBe(`saw the abort in ${kind}`)
    })

    it('kill() stops a job that ignores cancel, and the pool keeps serving', async () => {
      const spin = drive(pool, { job: 'spin', params: { ms: 30_000, ignoreCancel: true } })
      await waitFor(() => spin.heard.progress.length > 0, 10_000, 'spin progress')
      spin.run.cancel()
      const settled = await Promise.race([spin.outcome.then(() => true), delay(400).then(() => false)])
      expect(settled).toBe(false)
      expect(spin.run.kill()).toBe(true)
      const f = await fails(spin.outcome)
      expect(f.kind).toBe('crashed')
      expect(f.message).toBe(KILLED_MESSAGE)
      expect(await succeeds(drive(pool, { job: 'sleep', params: { ms: 10 } }).outcome)).toEqual({ ms: 10 })
    })

    it('a crashing job fails as crashed and the next job runs fine', async () => {
      const crash = drive(pool, { job: 'crash', params: { afterMs: 20 } })
      const f = await fails(crash.outcome)
      expect(f.kind).toBe('crashed')
      expect(f.message).toMatch(/exited with code 1/)

      const thrown = drive(pool, { job: `${modules.good}#topLevelThrow` })
      const g = await fails(thrown.outcome)
      expect(g.kind).toBe('crashed')
      expect(g.message).toMatch(/boom at top level/)

      const next = drive(pool, { job: 'primes', params: { below: 100 } })
      expect(await succeeds(next.outcome)).toEqual({ count: 25, largest: 97 })
      await waitFor(() => pool.workers() === 2, 10_000, 'the pool to refill')
    })

    it('captures console output of a job as stdout/stderr log lines', async () => {
      const chatty = drive(pool, { job: `${modules.good}#chatty` })
      expect(await succeeds(chatty.outcome)).toBe('ok')
      await waitFor(() => chatty.heard.logs.length >= 2, 2000, 'output lines').catch(() => {})
      expect(chatty.heard.logs).toEqual(
        expect.arrayContaining([
          { line: 'to stdout', stream: 'stdout' },
          { line: 'to stderr', stream: 'stderr' },
        ]),
      )
    })

    it('runs 3 CPU-bound jobs in parallel on a pool of 3', async () => {
      const wide = make(3)
      try {
        await wide.warm()
        expect(wide.workers()).toBe(3)
        const t = performance.now()
        const runs = [1, 2, 3].map(() => drive(wide, { job: 'spin', params: { ms: 1000 } }))
        await Promise.all(runs.map((r) => succeeds(r.outcome)))
        expect(performance.now() - t).toBeLessThan(1900)
        expect(new Set(runs.map((r) => r.heard.worker)).size).toBe(3)

        wide.resize(1)
        await waitFor(() => wide.workers() === 1, 5000, 'the pool to shrink')
      } finally {
        await wide.close()
      }
      expect(wide.workers()).toBe(0)
    })

    it('close() fails running work and releases every worker', async () => {
      const p = make(1)
      const spin = drive(p, { job: 'spin', params: { ms: 30_000, ignoreCancel: true } })
      await waitFor(() => spin.heard.progress.length > 0, 10_000, 'spin progress')
      await p.close()
      expect((await fails(spin.outcome)).kind).toBe('crashed')
      expect(p.workers()).toBe(0)
      expect((await fails(drive(p, { job: 'sleep', params: { ms: 1 } }).outcome)).message).toMatch(/closed/)
    })
  })
}
