// Event batches: a snapshot first, then coalesced deltas with increasing seq.
import { describe, expect, it } from 'vitest'
import type { EngineEvent, EventBatch, TaskSnapshot } from '../../../common/types'
import { useEngines, waitFinal } from '../../helpers/engine'

const newEngine = useEngines()

describe('events', () => {
  it('a subscriber gets a snapshot, then batches with increasing seq, coalesced per interval', async () => {
    const engine = newEngine({ batchIntervalMs: 50 })
    const events: EngineEvent[] = []
    engine.subscribe((e) => events.push(e))
    const { ids } = await engine.submit({ batch: { tasks: [{ job: 'ticker', params: { steps: 200, intervalMs: 2 } }, { job: 'sleep', params: { ms: 100 } }] } })
    await waitFinal(engine, ids)
    await new Promise((r) => setTimeout(r, 120))
    expect(events[0]!.type).toBe('snapshot')
    const batches = events.slice(1) as EventBatch[]
    expect(batches.every((b) => b.type === 'batch')).toBe(true)
    batches.forEach((b, i) => expect(b.seq).toBe(events[0]!.seq + i + 1))
    // 200 progress steps over ~400 ms arrive as a handful of batches, each with one snapshot per task.
    expect(batches.length).toBeLessThan(30)
    for (const b of batches) expect(new Set(b.tasks.map((t) => t.id)).size).toBe(b.tasks.length)
    // Applying the deltas over the snapshot reproduces the engine's final state and counters.
    const state = new Map<string, TaskSnapshot>()
    for (const e of events) for (const t of e.tasks) state.set(t.id, t)
    expect([...state.values()].map((t) => t.state)).toEqual(['done', 'done'])
    expect(batches.at(-1)!.counters).toEqual((await engine.stats()).counters)
  })

  it('log lines reach a log subscriber, tail first', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ job: 'ticker', params: { steps: 5, intervalMs: 20 } })
    const lines: string[] = []
    await new Promise((r) => setTimeout(r, 50))
    engine.subscribeLog(id!, (ls) => lines.push(...ls.map((l) => l.line)))
    await waitFinal(engine, [id!])
    await new Promise((r) => setTimeout(r, 100))
    expect(lines).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5'])
  })
})
