// The event batcher: task changes coalesced into at most one batch per interval (the first after a
// quiet interval at once), the latest snapshot of each changed task, increasing seq. Fake timers:
// no waiting, no timing claims.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { emptyCounters, type EngineEvent, type EventBatch } from '../../../common/types'
import { EventBatcher } from '../../../engine/events'
import { Task } from '../../../engine/task'

const task = (n: number) => new Task(`t${n}`, n, { job: 'sleep' }, 'loop', null)

let batcher: EventBatcher
let batches: EventBatch[]
beforeEach(() => {
  vi.useFakeTimers()
  batcher = new EventBatcher(50, () => ({ ...emptyCounters(), pending: 7 }))
  batches = []
  batcher.on((e: EngineEvent) => batches.push(e as EventBatch))
})
afterEach(() => {
  vi.useRealTimers()
})

describe('EventBatcher', () => {
  it('a change after a quiet interval leaves at once, with the latest state of each task changed in its turn', () => {
    const a = task(1)
    const b = task(2)
    batcher.changedTask(a)
    a.to('running')
    batcher.changedTask(a)
    batcher.changedTask(b)
    a.to('done')
    batcher.changedTask(a)
    expect(batches).toEqual([]) // not within the turn: the rest of it joins the batch
    vi.advanceTimersByTime(0)
    expect(batches).toHaveLength(1)
    expect(batches[0]!.type).toBe('batch')
    expect(batches[0]!.seq).toBe(1)
    expect(batches[0]!.tasks.map((t) => [t.id, t.state])).toEqual([
      ['t1', 'done'],
      ['t2', 'pending'],
    ])
    expect(batches[0]!.counters.pending).toBe(7)
  })

  it('quiet (the last run out ended): what waits leaves at the end of the turn, or a fifth of the interval after the last batch', () => {
    const a = task(1)
    batcher.changedTask(a)
    vi.advanceTimersByTime(0)
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(5)
    a.to('running')
    batcher.changedTask(a)
    batcher.quiet() // 5 ms after a batch: it leaves 10 ms after that batch, not 50
    vi.advanceTimersByTime(4)
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(batches).toHaveLength(2)
    vi.advanceTimersByTime(15)
    a.to('done')
    batcher.changedTask(a)
    batcher.quiet() // 15 ms after: leaves at the end of this turn, with the rest of the turn
    expect(batches).toHaveLength(2)
    vi.advanceTimersByTime(0)
    expect(batches).toHaveLength(3)
    expect(batches[2]!.tasks.map((t) => [t.id, t.state])).toEqual([['t1', 'done']])
    // Nothing waits: quiet sends nothing.
    vi.advanceTimersByTime(100)
    batcher.quiet()
    vi.advanceTimersByTime(100)
    expect(batches).toHaveLength(3)
  })

  it('after a batch, the next waits until the interval has passed, and holds only the latest state', () => {
    const a = task(1)
    batcher.changedTask(a)
    vi.advanceTimersByTime(0)
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(10)
    a.to('running')
    batcher.changedTask(a)
    a.to('done')
    batcher.changedTask(a)
    vi.advanceTimersByTime(39)
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(batches).toHaveLength(2)
    expect(batches[1]!.tasks.map((t) => [t.id, t.state])).toEqual([['t1', 'done']])
    // Quiet for longer than the interval: the next change leaves at once again.
    vi.advanceTimersByTime(200)
    batcher.changedTask(task(2))
    vi.advanceTimersByTime(0)
    expect(batches).toHaveLength(3)
  })

  it('a stream of changes is one batch per interval', () => {
    const a = task(1)
    for (let ms = 0; ms < 500; ms++) {
      batcher.changedTask(a)
      vi.advanceTimersByTime(1)
    }
    // The first at once, then one every 50 ms.
    expect(batches.length).toBeGreaterThanOrEqual(10)
    expect(batches.length).toBeLessThanOrEqual(11)
  })

  it('numbers batches 1, 2, 3 … and sends none while nothing changes', () => {
    const a = task(1)
    for (let i = 0; i < 3; i++) {
      batcher.changedTask(a)
      vi.advanceTimersByTime(50)
    }
    vi.advanceTimersByTime(1000)
    expect(batches.map((b) => b.seq)).toEqual([1, 2, 3])
    expect(batcher.seq).toBe(3)
  })

  it('limits, shutdown status and stats ride along once, as copies', () => {
    const limits = { loop: 4, thread: 2, process: 2, command: 1 }
    const shutdown = { phase: 'draining' as const, pending: 'cancel' as const, startedAt: 0, deadline: 5000, draining: [], forced: ['t1'] }
    batcher.changedLimits(limits)
    batcher.changedShutdown(shutdown)
    limits.loop = 99
    shutdown.forced.push('t2')
    vi.advanceTimersByTime(50)
    expect(batches[0]).toMatchObject({ tasks: [], limits: { loop: 4 }, shutdown: { phase: 'draining', forced: ['t1'] } })
    batcher.changedTask(task(1))
    vi.advanceTimersByTime(50)
    expect(batches[1]).not.toHaveProperty('limits')
    expect(batches[1]).not.toHaveProperty('shutdown')
  })

  it('flush sends what is pending now; close flushes and drops the listeners', () => {
    batcher.changedTask(task(1))
    batcher.flush()
    expect(batches).toHaveLength(1)
    vi.advanceTimersByTime(50) // the timer went with the flush
    expect(batches).toHaveLength(1)
    batcher.changedTask(task(2))
    batcher.close()
    expect(batches.map((b) => b.tasks[0]!.id)).toEqual(['t1', 't2'])
    expect(batcher.listenerCount).toBe(0)
  })

  it("one listener's exception does not keep the batch from the others; unsubscribe stops delivery", () => {
    const other: EngineEvent[] = []
    batcher.on(() => {
      throw new Error('a broken client')
    })
    const off = batcher.on((e) => other.push(e))
    batcher.changedTask(task(1))
    vi.advanceTimersByTime(50)
    expect(batches).toHaveLength(1)
    expect(other).toHaveLength(1)
    off()
    batcher.changedTask(task(1))
    vi.advanceTimersByTime(50)
    expect(batches).toHaveLength(2)
    expect(other).toHaveLength(1)
  })
})
