// Priorities, chains, batches (the seeds' TaskPool/Semaphore and task groups), runtime limits.
import { writeFileSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { EngineEvent } from '../../../common/types'
import { Engine } from '../../../main/engine/engine'
import { waitFinal, waitState } from '../../helpers/engine'

let engine: Engine | null = null
afterEach(async () => {
  await engine?.shutdown({ graceMs: 500 })
  engine = null
})

describe('scheduling', () => {
  it('higher priority runs first among pending; FIFO among equals', async () => {
    engine = new Engine({ limits: { loop: 1 } })
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
    engine = new Engine({ cwd: dir })
    const { ids: [p1] } = await engine.submit({ name: 'phase1', job: 'sleep', params: { ms: 100 } })
    const { ids: [p2] } = await engine.submit({ name: 'phase2', job: './jobs.mjs#phase2', after: [p1!] })
    expect((await engine.get(p2!)).state).toBe('pending')
    const [a, b] = await waitFinal(engine, [p1!, p2!])
    expect(b!.startedAt!).toBeGreaterThanOrEqual(a!.endedAt!)
    expect(b!.result).toEqual({ got: [{ ms: 100 }] })
  })

  it('a failed dependency cancels its dependents with reason dependency', async () => {
    engine = new Engine()
    const { ids: [bad] } = await engine.submit({ job: 'fail', params: { message: 'no', afterMs: 50 } })
    const { ids: [child] } = await engine.submit({ job: 'sleep', params: { ms: 10 }, after: [bad!] })
    const { ids: [grandchild] } = await engine.submit({ job: 'sleep', params: { ms: 10 }, after: [child!] })
    const [, c, g] = await waitFinal(engine, [bad!, child!, grandchild!])
    expect(c).toMatchObject({ state: 'cancelled', reason: 'dependency' })
    expect(g).toMatchObject({ state: 'cancelled', reason: 'dependency' })
  })

  it('a batch runs at most `concurrency` tasks at once (TaskPool of 3 over 12 jobs)', async () => {
    engine = new Engine()
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
    engine = new Engine()
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
    engine = new Engine({ limits: { loop: 1 } })
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 4 }, () => ({ job: 'sleep', params: { ms: 5000 } })) } })
    await waitState(engine, ids[0]!, 'running')
    expect((await engine.stats()).counters).toMatchObject({ running: 1, pending: 3 })
    expect(await engine.setLimits({ loop: 4 })).toMatchObject({ loop: 4 })
    await Promise.all(ids.map((id) => waitState(engine!, id, 'running', 2000)))
    await expect(engine.setLimits({ loop: 0 })).rejects.toMatchObject({ code: 'invalid', path: 'loop' })
  })

  it('retry creates a new task from a failed one; a running one cannot be retried', async () => {
    engine = new Engine()
    const { ids: [id] } = await engine.submit({ name: 'oops', job: 'fail', params: { message: 'x', afterMs: 1 } })
    await waitState(engine, id!, 'failed')
    const { id: again } = await engine.retry(id!)
    expect(again).not.toBe(id)
    expect((await waitState(engine, again, 'failed')).name).toBe('oops')
    const { ids: [long] } = await engine.submit({ job: 'sleep', params: { ms: 5000 } })
    await expect(engine.retry(long!)).rejects.toMatchObject({ code: 'conflict' })
  })
})
