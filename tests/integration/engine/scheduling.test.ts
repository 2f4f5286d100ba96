// Priorities, chains, batches (asyncio's Semaphore and task groups), runtime limits.
import { writeFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EngineEvent } from '../../../common/types'
import { useEngines, waitFinal, waitState } from '../../helpers/engine'

const newEngine = useEngines()

describe('scheduling', () => {
  it('higher priority runs first among pending; FIFO among equals', async () => {
    const engine = newEngine({ limits: { loop: 1 } })
    const { ids: [blocker] } = await engine.submit({ name: 'blocker', job: 'sleep', params: { ms: 200 } })
    const ids: string[] = []
    for (const [name, priority] of [['low', 0], ['high', 5], ['low2', 0], ['higher', 9]] as const) {
      ids.push((await engine.submit({ name, priority, job: 'sleep', params: { ms: 10 } })).ids[0]!)
    }
    const done = await waitFinal(engine, [blocker!, ...ids])
    const order = done.slice(1).sort((a, b) => a.startedAt! - b.startedAt!).map((t) => t.name)
    expect(order).toEqual(['higher', 'high', 'low', 'low2'])
  })

  it('a chain passes results: phase2 runs after phase1 and receives its result', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-chain-'))
    writeFileSync(path.join(dir, 'jobs.mjs'), 'export async function phase2(params, ctx) { return { got: ctx.inputs } }\n')
    const engine = newEngine({ cwd: dir })
    const { ids: [p1] } = await engine.submit({ name: 'phase1', job: 'sleep', params: { ms: 100 } })
    const { ids: [p2] } = await engine.submit({ name: 'phase2', job: './jobs.mjs#phase2', after: [p1!] })
    expect((await engine.get(p2!)).state).toBe('pending')
    const [a, b] = await waitFinal(engine, [p1!, p2!])
    expect(b!.startedAt!).toBeGreaterThanOrEqual(a!.endedAt!)
    expect(b!.result).toEqual({ got: [{ ms: 100 }] })
  })

  it('a failed dependency cancels its dependents with reason dependency', async () => {
    const engine = newEngine()
    const { ids: [bad] } = await engine.submit({ job: 'fail', params: { message: 'no', afterMs: 50 } })
    const { ids: [child] } = await engine.submit({ job: 'sleep', params: { ms: 10 }, after: [bad!] })
    const { ids: [grandchild] } = await engine.submit({ job: 'sleep', params: { ms: 10 }, after: [child!] })
    const [, c, g] = await waitFinal(engine, [bad!, child!, grandchild!])
    expect(c).toMatchObject({ state: 'cancelled', reason: 'dependency' })
    expect(g).toMatchObject({ state: 'cancelled', reason: 'dependency' })
  })

  it('a batch runs at most `concurrency` tasks at once (TaskPool of 3 over 12 jobs)', async () => {
    const engine = newEngine()
    let maxRunning = 0
    const running = new Set<string>()
    engine.subscribe((e: EngineEvent) => {
      for (const t of e.tasks) {
        if (t.state === 'running') running.add(t.id)
        else running.delete(t.id)
      }
      maxRunning = Math.max(maxRunning, running.size)
    })
    const { ids } = await engine.submit({
      batch: { name: 'pool', concurrency: 3, tasks: Array.from({ length: 12 }, () => ({ job: 'sleep', params: { ms: 60 } })) },
    })
    const t0 = Date.now()
    const tasks = await waitFinal(engine, ids)
    expect(tasks.every((t) => t.state === 'done')).toBe(true)
    expect(maxRunning).toBe(3)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4 * 60 - 20)
  })

  it('failFast: the first failure cancels the rest of the batch', async () => {
    const engine = newEngine()
    const { ids } = await engine.submit({
      batch: {
        failFast: true,
        concurrency: 2,
        tasks: [{ job: 'fail', params: { message: 'first', afterMs: 50 } }, { job: 'sleep', params: { ms: 10_000 } }, { job: 'sleep', params: { ms: 10 } }],
      },
    })
    const [f, running, pending] = await waitFinal(engine, ids)
    expect(f!.state).toBe('failed')
    expect(running).toMatchObject({ state: 'cancelled', reason: 'fail-fast' })
    expect(pending).toMatchObject({ state: 'cancelled', reason: 'fail-fast' })
  })

  it('limits change at runtime: raising the loop limit starts waiting tasks at once', async () => {
    const engine = newEngine({ limits: { loop: 1 } })
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 4 }, () => ({ job: 'sleep', params: { ms: 5000 } })) } })
    await waitState(engine, ids[0]!, 'running')
    expect((await engine.stats()).counters).toMatchObject({ running: 1, pending: 3 })
    expect(await engine.setLimits({ loop: 4 })).toMatchObject({ loop: 4 })
    await Promise.all(ids.map((id) => waitState(engine!, id, 'running', 2000)))
    await expect(engine.setLimits({ loop: 0 })).rejects.toMatchObject({ code: 'invalid', path: 'loop' })
  })

  it('retry creates a new task from a failed one; a running one cannot be retried', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ name: 'oops', job: 'fail', params: { message: 'x', afterMs: 1 } })
    await waitState(engine, id!, 'failed')
    const { id: again } = await engine.retry(id!)
    expect(again).not.toBe(id)
    expect((await waitState(engine, again, 'failed')).name).toBe('oops')
    const { ids: [long] } = await engine.submit({ job: 'sleep', params: { ms: 5000 } })
    await expect(engine.retry(long!)).rejects.toMatchObject({ code: 'conflict' })
  })

  it('pause holds new work while running tasks go on; resume starts it', async () => {
    const engine = newEngine()
    const { ids: [running] } = await engine.submit({ job: 'sleep', params: { ms: 300 } })
    await waitState(engine, running!, 'running')
    await engine.pause()
    const { ids: [held] } = await engine.submit({ job: 'sleep', params: { ms: 10 } })
    await waitState(engine, running!, 'done')
    expect((await engine.get(held!)).state).toBe('pending')
    expect((await engine.stats()).paused).toBe(true)
    await engine.resume()
    await waitState(engine, held!, 'done')
  })

  it('a group limit holds a group to N at once, changeable while running', async () => {
    const engine = newEngine()
    await engine.setGroupLimit('nightly', 1)
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 3 }, () => ({ job: 'sleep', group: 'nightly', params: { ms: 5000 } })) } })
    const { ids: [other] } = await engine.submit({ job: 'sleep', params: { ms: 5000 } })
    await waitState(engine, ids[0]!, 'running')
    await waitState(engine, other!, 'running')
    expect((await engine.list({ state: 'pending' })).map((t) => t.id)).toEqual([ids[1], ids[2]])
    expect(await engine.setGroupLimit('nightly', 3)).toEqual({ nightly: 3 })
    await Promise.all(ids.map((id) => waitState(engine!, id, 'running', 2000)))
    await expect(engine.setGroupLimit('', 1)).rejects.toMatchObject({ code: 'invalid', path: 'group' })
  })

  it('backpressure: a submit past the pending bound is refused with a clear error, nothing accepted is lost', async () => {
    const engine = newEngine({ maxPending: 100, limits: { loop: 1 } })
    const tasks = (n: number) => ({ batch: { tasks: Array.from({ length: n }, () => ({ job: 'sleep', params: { ms: 1 } })) } })
    const { ids } = await engine.submit(tasks(90))
    await expect(engine.submit(tasks(20))).rejects.toMatchObject({ code: 'overloaded', message: expect.stringMatching(/^queue full: \d+ tasks pending/) })
    const finished = await waitFinal(engine, ids)
    expect(finished.every((t) => t.state === 'done')).toBe(true)
    expect(await engine.submit(tasks(20))).toMatchObject({ ids: expect.any(Array) })
  })

  it('every attempt is kept with its timings and outcome; metrics count run, wait and cancel times', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ job: 'fail', params: { message: 'flaky', afterMs: 20 }, retries: 2, retryDelayMs: 10 })
    const t = await waitState(engine, id!, 'failed')
    expect(t.attempts.map((a) => [a.attempt, a.outcome, a.error])).toEqual([
      [1, 'pending', 'flaky'],
      [2, 'pending', 'flaky'],
      [3, 'failed', 'flaky'],
    ])
    for (const a of t.attempts) expect(a.endedAt! - a.startedAt).toBeGreaterThanOrEqual(15)
    expect(t.attempts[1]!.startedAt - t.attempts[0]!.endedAt!).toBeGreaterThanOrEqual(9) // the retry delay
    const { ids: [c] } = await engine.submit({ job: 'sleep', params: { ms: 10_000 } })
    await waitState(engine, c!, 'running')
    await engine.cancel(c!)
    await waitState(engine, c!, 'cancelled')
    const stats = await engine.stats()
    expect(stats.runMs.count).toBe(2)
    expect(stats.cancelMs.count).toBe(1)
    expect(stats.cancelMs.max).toBeLessThan(1000)
  })

  it('inside a batch, "#N" chains siblings; gather returns ordered results and progress', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-gather-'))
    writeFileSync(path.join(dir, 'jobs.mjs'), 'export const sum = async (p, ctx) => ctx.inputs.reduce((a, r) => a + r.ms, 0)\n')
    const engine = newEngine({ cwd: dir })
    const { ids, batchId } = await engine.submit({
      batch: {
        name: 'phases',
        tasks: [
          { job: 'sleep', params: { ms: 30 } },
          { job: 'sleep', params: { ms: 60 } },
          { name: 'phase2', job: './jobs.mjs#sum', after: ['#0', '#1'] },
        ],
      },
    })
    expect((await engine.batch(batchId!)).state).toBe('running')
    await waitFinal(engine, ids)
    expect(await engine.batch(batchId!)).toMatchObject({ name: 'phases', total: 3, progress: 1, state: 'done', taskIds: ids, results: [{ ms: 30 }, { ms: 60 }, 90] })
  })

  it('cycles, self-references and unknown "#N" are refused at submit, naming the field', async () => {
    const engine = newEngine()
    const sleep = (after: string[]) => ({ job: 'sleep', params: { ms: 1 }, after })
    await expect(engine.submit({ batch: { tasks: [sleep(['#2']), sleep(['#0']), sleep(['#1'])] } })).rejects.toMatchObject({
      code: 'invalid',
      message: 'batch.tasks.0.after: dependency cycle #0 → #2 → #1 → #0',
    })
    await expect(engine.submit({ batch: { tasks: [sleep(['#0'])] } })).rejects.toMatchObject({ path: 'batch.tasks.0.after.0' })
    await expect(engine.submit({ batch: { tasks: [sleep([]), sleep(['#7'])] } })).rejects.toMatchObject({ path: 'batch.tasks.1.after.0' })
    await expect(engine.submit(sleep(['#0']))).rejects.toMatchObject({ path: 'after.0' })
    await expect(engine.batch('nope')).rejects.toMatchObject({ code: 'not-found' })
    expect(await engine.list()).toEqual([])
  })
})

