// Priorities, chains, batches (asyncio's Semaphore and task groups), runtime limits.
import { writeFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EngineEvent, TaskSnapshot } from '../../../common/types'
import { useEngines, waitFinal, waitFor, waitState } from '../../helpers/engine'

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

  it('a retry records the task it retries and continues its attempt numbers, with its own retry budget; a done task can run again', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ name: 'flaky', job: 'fail', params: { message: 'x', afterMs: 1 }, retries: 1 })
    expect((await waitState(engine, id!, 'failed')).attempt).toBe(2)
    const { id: again } = await engine.retry(id!)
    const retried = await waitState(engine, again, 'failed')
    expect(retried.retryOf).toBe(id)
    // Its own retries: 1 run + 1 retry, numbered on from the old task's 2 attempts.
    expect(retried.attempts.map((a) => a.attempt)).toEqual([3, 4])
    expect(retried.attempt).toBe(4)
    expect((await engine.get(id!)).retryOf).toBeUndefined()

    const { ids: [ok] } = await engine.submit({ name: 'ok', job: 'sleep', params: { ms: 1 } })
    await waitState(engine, ok!, 'done')
    const { id: rerun } = await engine.retry(ok!)
    const second = await waitState(engine, rerun, 'done')
    expect(second).toMatchObject({ retryOf: ok, attempt: 2, name: 'ok' })
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


/** When each task ran, from the engine's own times, in submission order. */
const spans = (tasks: TaskSnapshot[]) => tasks.map((t) => ({ name: t.name, start: t.startedAt!, end: t.endedAt! }))

/**
 * Tasks running at once at the moment `s` started (itself included). A worker reports one run's
 * end and its next run's start together, and the engine stamps the end a moment later: overlaps
 * under 5 ms are that, not two runs at once.
 */
const runningAt = (all: ReturnType<typeof spans>, s: { start: number }) =>
  all.filter((o) => o.start <= s.start && s.start < o.end - 5).length

describe('limits and order', () => {
  it('raising a thread limit after lowering it starts the waiting tasks at once, in submission order', async () => {
    const engine = newEngine({ limits: { thread: 3 } })
    // As hosts do at start: the pool's spare thread takes the first new place at once (a new thread
    // takes a second or more to start on a busy machine; the ones after it wait for theirs).
    await engine.warm()
    const { ids } = await engine.submit({
      batch: { tasks: Array.from({ length: 8 }, (_, i) => ({ name: `t${i}`, job: 'sleep', executor: 'thread' as const, params: { ms: 3000 } })) },
    })
    await Promise.all(ids.slice(0, 3).map((id) => waitState(engine, id, 'running')))
    await engine.setLimits({ thread: 1 })
    await engine.setLimits({ thread: 4 })
    // The first three still run (3 s each): the fourth must start long before any of them ends.
    const fourth = await waitState(engine, ids[3]!, 'running', 2000)
    expect((await engine.stats()).pools.thread).toMatchObject({ limit: 4, running: 4, pending: 4 })
    const done = await waitFinal(engine, ids)
    expect(fourth.startedAt! - done[0]!.startedAt!).toBeLessThan(2500)
    const all = spans(done)
    // Four at once, in two waves: the first four submitted, then the rest.
    const byStart = [...all].sort((a, b) => a.start - b.start).map((s) => s.name)
    expect(byStart.slice(0, 4).sort()).toEqual(['t0', 't1', 't2', 't3'])
    for (const s of all) expect(runningAt(all, s)).toBeLessThanOrEqual(4)
  })

  it('a lowered process limit is honoured: nothing new starts while as many run as the limit', async () => {
    const engine = newEngine({ limits: { process: 3 } })
    const { ids } = await engine.submit({
      batch: { tasks: Array.from({ length: 6 }, (_, i) => ({ name: `p${i}`, job: 'sleep', executor: 'process' as const, params: { ms: 800 } })) },
    })
    await Promise.all(ids.slice(0, 3).map((id) => waitState(engine, id, 'running')))
    const lowered = Date.now()
    await engine.setLimits({ process: 1 })
    const all = spans(await waitFinal(engine, ids))
    // p0–p2 were seen running before `lowered`, so they started at or before it (the same millisecond
    // is common); strictly later starts are the ones the lowered limit governs.
    const later = all.filter((s) => s.start > lowered)
    expect(later.map((s) => s.name)).toEqual(['p3', 'p4', 'p5'])
    for (const s of later) expect(runningAt(all, s)).toBe(1)
  })

  it('a limit lowered and raised again never runs more than the limit (threads 4 → 3 → 4)', async () => {
    const engine = newEngine({ limits: { thread: 4 } })
    const { ids } = await engine.submit({
      batch: { tasks: Array.from({ length: 10 }, (_, i) => ({ name: `t${i}`, job: 'sleep', executor: 'thread' as const, params: { ms: 600 } })) },
    })
    await Promise.all(ids.slice(0, 4).map((id) => waitState(engine, id, 'running')))
    await engine.setLimits({ thread: 3 })
    await engine.setLimits({ thread: 4 })
    const all = spans(await waitFinal(engine, ids))
    for (const s of all) expect(runningAt(all, s)).toBeLessThanOrEqual(4)
  })

  it('a process pool of 3 runs 3 at once on first use, like a thread pool', async () => {
    for (const executor of ['thread', 'process'] as const) {
      const engine = newEngine({ limits: { [executor]: 3 } })
      const t0 = Date.now()
      const { ids } = await engine.submit({
        batch: { tasks: Array.from({ length: 4 }, (_, i) => ({ name: `${executor}${i}`, job: 'spin', executor, params: { ms: 2000 } })) },
      })
      // The pool grows to its size when the runs come (as many starting at once as there are cores,
      // the next as soon as one is ready), not one worker after another finishing a run.
      await waitFor('the pool to start its 3 workers', async () => (await engine.stats()).pools[executor].workers === 3)
      const done = await waitFinal(engine, ids)
      const all = spans(done)
      // 2 s spins: the three overlap even when a loaded machine starts the workers a second apart.
      expect(Math.max(...all.map((s) => runningAt(all, s))), executor).toBe(3)
      // 4 s of work at 3 at once; a generous bound for a busy machine, where 6 s means 2 at once.
      const firstStart = Math.min(...all.map((s) => s.start))
      expect(Math.max(...all.map((s) => s.end)) - firstStart, executor).toBeLessThan(5600)
      expect(firstStart - t0).toBeGreaterThanOrEqual(0)
      await engine.shutdown()
    }
  })

  it('priority holds behind a batch slot, a group limit, dependencies and pause', async () => {
    const engine = newEngine({ limits: { loop: 1 } })
    const task = (name: string, priority: number, extra: object = {}) => ({ name, priority, job: 'sleep', params: { ms: 30 }, ...extra })
    const order = async (ids: string[]) => {
      const done = await waitFinal(engine, ids)
      return [...done].sort((a, b) => a.startedAt! - b.startedAt!).map((t) => t.name)
    }
    // Batch slot: the first goes through; the rest wait for the slot.
    const batch = await engine.submit({ batch: { concurrency: 1, tasks: [task('b0', 0), task('b1', 0), task('b2', 5), task('b3', 0), task('b4', 9)] } })
    expect(await order(batch.ids)).toEqual(['b0', 'b4', 'b2', 'b1', 'b3'])
    // Group limit.
    await engine.setLimits({ loop: 10 })
    await engine.setGroupLimit('g', 1)
    const group: string[] = []
    for (const [name, p] of [['g0', 0], ['g1', 0], ['g2', 5], ['g3', 0], ['g4', 9]] as const) {
      group.push((await engine.submit(task(name, p, { group: 'g' }))).ids[0]!)
    }
    expect(await order(group)).toEqual(['g0', 'g4', 'g2', 'g1', 'g3'])
    // Dependencies, then pause: all wait on one task, released together, to a limit of 1.
    await engine.setLimits({ loop: 1 })
    await engine.pause()
    const { ids: [dep] } = await engine.submit(task('dep', 0))
    const chained: string[] = []
    for (const [name, p] of [['d0', 0], ['d1', 3], ['d2', 0], ['d3', 7]] as const) {
      chained.push((await engine.submit(task(name, p, { after: [dep!] }))).ids[0]!)
    }
    await engine.resume()
    expect(await order([dep!, ...chained])).toEqual(['dep', 'd3', 'd1', 'd0', 'd2'])
  })

  it('every pending task says why it waits; pools count every pending task', async () => {
    const engine = newEngine({ limits: { loop: 1 } })
    const events: TaskSnapshot[] = []
    engine.subscribe((e: EngineEvent) => events.push(...e.tasks))
    const { ids: [blocker] } = await engine.submit({ name: 'blocker', job: 'sleep', params: { ms: 5000 } })
    await waitState(engine, blocker!, 'running')
    const { ids: [queued] } = await engine.submit({ job: 'sleep', params: { ms: 10 } })
    const { ids: [chained] } = await engine.submit({ job: 'sleep', params: { ms: 10 }, after: [blocker!] })
    await engine.setGroupLimit('g', 1)
    const { ids: [g1] } = await engine.submit({ job: 'sleep', group: 'g', executor: 'thread', params: { ms: 5000 } })
    await waitState(engine, g1!, 'running')
    const { ids: [g2] } = await engine.submit({ job: 'sleep', group: 'g', executor: 'thread', params: { ms: 10 } })
    const batch = await engine.submit({ batch: { concurrency: 1, tasks: Array.from({ length: 2 }, () => ({ job: 'sleep', executor: 'thread' as const, params: { ms: 5000 } })) } })
    const { ids: [retrying] } = await engine.submit({ job: 'fail', executor: 'process', params: { message: 'again', afterMs: 1 }, retries: 1, retryDelayMs: 60_000 })
    const want = { [queued!]: 'executor-limit', [chained!]: 'dependency', [g2!]: 'group-limit', [batch.ids[1]!]: 'batch-slot', [retrying!]: 'retry-backoff' }
    await waitFor('every waiting reason', async () => {
      const got = await Promise.all(Object.keys(want).map(async (id) => (await engine.get(id)).waiting))
      return got.join() === Object.values(want).join()
    })
    await engine.pause()
    expect((await engine.get(queued!)).waiting).toBe('paused')
    const stats = await engine.stats()
    expect(stats.counters.pending).toBe(5)
    expect(Object.values(stats.pools).reduce((n, p) => n + p.pending, 0)).toBe(5)
    expect(stats.pools).toMatchObject({ loop: { pending: 2 }, thread: { pending: 2 }, process: { pending: 1 } })
    // The reason travels in the event batches, and is gone once the task runs.
    await waitFor('the reasons in the events', async () => events.some((t) => t.id === g2 && t.waiting === 'group-limit') && events.some((t) => t.id === queued && t.waiting === 'paused'))
    expect((await engine.get(blocker!)).waiting).toBeNull()
  })
})
