// The Ctrl+C sequence (docs/ARCHITECTURE.md "Shutdown") on a real engine, in-process and on its thread.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EngineEvent, ShutdownStatus } from '../../../common/types'
import { startEngineThread } from '../../../engine/thread/client'
import type { EngineHandle } from '../../../engine/handle'
import { useEngines, waitFor, waitState } from '../../helpers/engine'
import { pidOf, survivorsOf } from '../../helpers/proc'

// Each test shuts its engines down itself; the fixture makes sure a failed test leaves none running.
const newEngine = useEngines()

async function mixedWork(engine: EngineHandle) {
  const submit = async (spec: Parameters<EngineHandle['submit']>[0]) => (await engine.submit(spec)).ids[0]!
  const ids = {
    polite: await submit({ name: 'polite', job: 'sleep', params: { ms: 30_000 } }),
    stubbornThread: await submit({ name: 'stubborn thread', job: 'spin', executor: 'thread', params: { ms: 30_000, ignoreCancel: true } }),
    tree: await submit({ name: 'tree', command: 'trap "" TERM; sleep 30 & sleep 30 & wait' }),
  }
  await engine.setLimits({ loop: 1 })
  const pending = await submit({ name: 'pending', job: 'sleep', params: { ms: 10 } })
  await waitFor('work to run', async () => {
    const ts = await Promise.all([ids.polite, ids.stubbornThread, ids.tree].map((id) => engine.get(id)))
    return ts.every((t) => t.state === 'running' && t.worker) && (ts[1]!.progress ?? 0) > 0
  })
  await new Promise((r) => setTimeout(r, 200)) // the command's trap is installed
  return { ...ids, pending, pgid: pidOf((await engine.get(ids.tree)).worker) }
}

describe('shutdown', () => {
  it('forceShutdown (the drain panel\'s Force now) forces at once what a long grace would wait for; without a shutdown it is refused', async () => {
    const engine = newEngine()
    await expect(engine.forceShutdown()).rejects.toMatchObject({ code: 'conflict' })
    const { ids: [id] } = await engine.submit({ name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true } })
    await waitState(engine, id!, 'running')
    const t0 = Date.now()
    const done = engine.shutdown({ graceMs: 120_000 })
    await engine.forceShutdown()
    const report = await done
    expect(Date.now() - t0).toBeLessThan(60_000)
    expect(report.forced).toEqual([id])
  })

  it('cancels pending, stops running cooperatively, forces the rest after the grace, refuses new work', async () => {
    const engine = newEngine()
    const ids = await mixedWork(engine)
    const statuses: ShutdownStatus[] = []
    engine.subscribe((e: EngineEvent) => {
      const s = e.type === 'snapshot' ? e.shutdown : e.shutdown
      if (s) statuses.push(s)
    })
    const t0 = Date.now()
    const done = engine.shutdown({ graceMs: 800 })
    await expect(engine.submit({ job: 'sleep' })).rejects.toMatchObject({ code: 'shutting-down' })
    const report = await done
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(750)
    expect(elapsed).toBeLessThan(5000)
    expect(await engine.get(ids.pending)).toMatchObject({ state: 'cancelled', reason: 'shutdown' })
    expect(await engine.get(ids.polite)).toMatchObject({ state: 'cancelled', reason: 'shutdown', ignoredCancel: false })
    expect(await engine.get(ids.stubbornThread)).toMatchObject({ state: 'cancelled', reason: 'shutdown' })
    expect(await engine.get(ids.tree)).toMatchObject({ state: 'cancelled', reason: 'shutdown' })
    expect(report.forced.sort()).toEqual([ids.stubbornThread, ids.tree].sort())
    expect(await survivorsOf(ids.pgid)).toEqual([])
    // Clients saw the drain announced, forced, and finished.
    expect(statuses[0]!.phase).toBe('draining')
    expect(statuses[0]!.draining.map((d) => d.name).sort()).toEqual(['polite', 'stubborn thread', 'tree'])
    expect(statuses.map((s) => s.phase)).toContain('forcing')
    expect(statuses.at(-1)).toMatchObject({ phase: 'done' })
    expect(Object.values((await engine.stats()).counters).reduce((a, b) => a + b)).toBe((await engine.list()).length)
  })

  it('the summary lists what this shutdown forced, each once, not stops forced earlier', async () => {
    const engine = newEngine()
    const stubborn = (name: string) => ({ name, job: 'spin', executor: 'thread' as const, params: { ms: 30_000, ignoreCancel: true }, killGraceMs: 100 })
    const { ids: [early] } = await engine.submit(stubborn('forced by a cancel'))
    await waitState(engine, early!, 'running')
    await engine.cancel(early!)
    await waitState(engine, early!, 'cancelled')
    const { ids: [late] } = await engine.submit(stubborn('forced by the shutdown'))
    await waitState(engine, late!, 'running')
    const statuses: ShutdownStatus[] = []
    engine.subscribe((e: EngineEvent) => e.shutdown && statuses.push(e.shutdown))
    const report = await engine.shutdown({ graceMs: 200 })
    expect(report.forced).toEqual([late])
    expect(report.stoppedCooperatively).toBe(0)
    await waitFor('the last status', async () => statuses.at(-1)?.phase === 'done')
    expect(statuses.at(-1)!.forced).toEqual([late])
  })

  it('a second Ctrl+C (escalate) forces at once, and shutdown is idempotent', async () => {
    const engine = newEngine()
    const ids = await mixedWork(engine)
    const t0 = Date.now()
    const first = engine.shutdown({ graceMs: 20_000 })
    expect(engine.shutdown()).toBe(first)
    await new Promise((r) => setTimeout(r, 100))
    engine.escalate()
    await first
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(await survivorsOf(ids.pgid)).toEqual([])
    expect((await engine.get(ids.stubbornThread)).state).toBe('cancelled')
  })

  it('on the engine thread: the client proxy drives the same sequence and the thread ends', async () => {
    const client = await startEngineThread({ shutdownGraceMs: 600 })
    const events: EngineEvent[] = []
    client.subscribe((e) => events.push(e))
    const ids = await mixedWork(client)
    await expect(client.submit({ job: 'sleep', executor: 'gpu' } as never)).rejects.toMatchObject({ code: 'invalid', path: 'executor' })
    await expect(client.get('nope')).rejects.toMatchObject({ code: 'not-found' })
    const report = await client.shutdown()
    expect(report.forced).toHaveLength(2)
    expect(await survivorsOf(ids.pgid)).toEqual([])
    expect(events[0]!.type).toBe('snapshot')
    const seqs = events.map((e) => e.seq)
    seqs.slice(1).forEach((s, i) => expect(s).toBe(seqs[i]! + 1))
    const last = new Map(events.flatMap((e) => e.tasks.map((t) => [t.id, t.state] as const)))
    expect(last.get(ids.polite)).toBe('cancelled')
    await expect(client.stats()).rejects.toMatchObject({ code: 'internal' })
  })

  it('the client proxy runs a job on every executor from its own thread', async () => {
    const client = await startEngineThread()
    const { ids } = await client.submit({
      batch: { tasks: [{ job: 'sleep', params: { ms: 20 } }, { job: 'primes', params: { below: 100 } }, { job: 'spin', executor: 'process', params: { ms: 20 } }, { argv: ['echo', 'hi'] }] },
    })
    const all = await Promise.all(ids.map((id) => waitState(client, id, ['done', 'failed'])))
    expect(all.map((t) => [t.executor, t.state])).toEqual([
      ['loop', 'done'],
      ['thread', 'done'],
      ['process', 'done'],
      ['command', 'done'],
    ])
    await client.shutdown()
  })

  it("pending: 'keep' leaves the queue pending in the store; running tasks follow onInterrupt; the next start runs them", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-keep-'))
    const engine = newEngine({ dataDir, limits: { loop: 1, command: 1 } })
    const submit = async (spec: Parameters<EngineHandle['submit']>[0]) => (await engine.submit(spec)).ids[0]!
    const failed = await submit({ name: 'fails as interrupted', job: 'sleep', params: { ms: 60_000 } })
    const requeued = await submit({ name: 'requeued', command: 'trap "" TERM; sleep 60', onInterrupt: 'requeue', killGraceMs: 100 })
    const queued = await Promise.all(Array.from({ length: 50 }, (_, i) => submit({ name: `queued ${i}`, job: 'sleep', params: { ms: 1 } })))
    await waitState(engine, failed, 'running')
    await waitState(engine, requeued, 'running')
    await new Promise((r) => setTimeout(r, 100)) // the trap is installed
    const report = await engine.shutdown({ graceMs: 300, pending: 'keep' })
    expect(report).toMatchObject({ cancelledPending: 0, keptPending: 51 })
    expect(report.forced).toEqual([requeued])
    expect(await engine.get(failed)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    expect(await engine.get(requeued)).toMatchObject({ state: 'pending', attempt: 2 })
    for (const id of queued) expect((await engine.get(id)).state).toBe('pending')

    const next = newEngine({ dataDir })
    expect(await next.get(failed)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    for (const id of queued) await waitState(next, id, 'done', 10_000)
    expect((await waitState(next, requeued, 'running', 10_000)).attempt).toBe(2)
    await next.shutdown({ graceMs: 200 })
  })
})
