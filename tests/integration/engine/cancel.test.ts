// Cancel per executor through the engine: pending, cooperative, ignored (forced after the grace).
import { describe, expect, it } from 'vitest'
import { useEngines, waitFor, waitState } from '../../helpers/engine'
import { aliveInGroup, survivorsOf, pidOf } from '../../helpers/proc'

const newEngine = useEngines()

const cooperative = {
  loop: { job: 'sleep', executor: 'loop', params: { ms: 30_000 } },
  thread: { job: 'spin', executor: 'thread', params: { ms: 30_000 } },
  process: { job: 'spin', executor: 'process', params: { ms: 30_000 } },
  command: { command: 'sleep 30' },
} as const

const ignoring = {
  loop: { job: 'sleep', executor: 'loop', params: { ms: 30_000, ignoreCancel: true } },
  thread: { job: 'spin', executor: 'thread', params: { ms: 30_000, ignoreCancel: true } },
  process: { job: 'spin', executor: 'process', params: { ms: 30_000, ignoreCancel: true } },
  command: { command: 'trap "" TERM; sleep 30 & wait; sleep 30' },
} as const

describe.each(['loop', 'thread', 'process', 'command'] as const)('cancel on %s', (kind) => {
  it('a pending task is cancelled without ever starting', async () => {
    const engine = newEngine({ limits: { [kind]: 1 } })
    const { ids: [first] } = await engine.submit({ name: 'first', ...cooperative[kind] })
    const { ids: [second] } = await engine.submit({ name: 'second', ...cooperative[kind] })
    await waitState(engine, first!, 'running')
    await engine.cancel(second!)
    const t = await engine.get(second!)
    expect(t.state).toBe('cancelled')
    expect(t.reason).toBe('user')
    expect(t.startedAt).toBeNull()
  })

  it('a running task stops cooperatively, well within the grace', async () => {
    const engine = newEngine({ killGraceMs: 10_000 })
    const { ids: [id] } = await engine.submit({ name: 'long', ...cooperative[kind] })
    await waitState(engine, id!, 'running')
    await waitFor('worker label', async () => (await engine.get(id!)).worker ?? undefined)
    await engine.cancel(id!)
    expect(['cancelling', 'cancelled']).toContain((await engine.get(id!)).state)
    const t = await waitState(engine, id!, 'cancelled', 5000)
    expect(t.reason).toBe('user')
    expect(t.ignoredCancel).toBe(false)
    expect(t.endedAt! - t.cancelRequestedAt!).toBeLessThan(3000)
  })

  it('a task that ignores the cooperative request is still stopped after its grace', async () => {
    const engine = newEngine({ limits: { [kind]: 1 } })
    const { ids: [id] } = await engine.submit({ name: 'stubborn', killGraceMs: 600, ...ignoring[kind] })
    // Wait until the job really runs (spin reports progress once its worker has started it).
    const running = await waitFor('the job to run', async () => {
      const t = await engine.get(id!)
      return t.state === 'running' && t.worker && (t.executor !== 'thread' && t.executor !== 'process' ? true : (t.progress ?? 0) > 0) ? t : undefined
    })
    await new Promise((r) => setTimeout(r, 200)) // let the command install its trap
    await engine.cancel(id!)
    const t = await waitState(engine, id!, 'cancelled', 8000)
    expect(t.endedAt! - t.cancelRequestedAt!).toBeGreaterThanOrEqual(550)
    expect(t.ignoredCancel).toBe(kind === 'loop')
    if (kind === 'command') expect(await survivorsOf(pidOf(running.worker))).toEqual([])
    // The executor recovered: the next task on it runs to the end.
    const { ids: [next] } = await engine.submit({ name: 'after', job: 'sleep', params: { ms: 10 }, ...(kind === 'command' ? {} : { executor: kind }) })
    expect((await waitState(engine, next!, ['done', 'failed'])).state).toBe('done')
  })
})

describe('cancel semantics', () => {
  it('cancel-all cancels pending and running alike, and cancelling a finished task is a no-op', async () => {
    const engine = newEngine({ limits: { loop: 2 } })
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 5 }, () => ({ job: 'sleep', params: { ms: 30_000 } })) } })
    await waitState(engine, ids[1]!, 'running')
    await engine.cancelAll()
    const all = await Promise.all(ids.map((id) => waitState(engine!, id, 'cancelled')))
    expect(all.map((t) => t.reason)).toEqual(['user', 'user', 'user', 'user', 'user'])
    await engine.cancel(ids[0]!)
    expect((await engine.get(ids[0]!)).state).toBe('cancelled')
    expect((await engine.stats()).counters.cancelled).toBe(5)
  })

  it('an unknown task id is refused with a clear error', async () => {
    const engine = newEngine()
    await expect(engine.cancel('nope')).rejects.toMatchObject({ code: 'not-found', message: 'unknown task id "nope"' })
  })

  it('a command that starts grandchildren leaves no descendant after cancel', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ command: 'sleep 30 & sleep 30 & (sleep 30 & wait) & wait', killGraceMs: 500 })
    const t = await waitFor('worker', async () => (await engine.get(id!)).worker ?? undefined)
    const pgid = pidOf(t)
    await waitFor('grandchildren to start', async () => aliveInGroup(pgid).length >= 5)
    await engine.cancel(id!)
    await waitState(engine, id!, 'cancelled')
    expect(await survivorsOf(pgid)).toEqual([])
  })
})
