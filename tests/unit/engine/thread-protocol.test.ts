// How the engine thread posts its events to the host (engine/thread/protocol.ts `eventMessage`).
import { describe, expect, it } from 'vitest'
import { emptyCounters, type EventBatch } from '../../../common/types'
import { eventMessage } from '../../../engine/thread/protocol'

const batch = (over: Partial<EventBatch> = {}): EventBatch => ({ type: 'batch', seq: 3, tasks: [], counters: emptyCounters(), ...over })

describe('eventMessage', () => {
  it('a batch of tasks and counters goes as its JSON text', () => {
    const b = batch({ notice: 'hello' })
    expect(eventMessage(b)).toEqual({ type: 'event-text', text: JSON.stringify(b) })
  })

  it('a batch with stats, limits or a shutdown status goes as it is (the host adds to its stats; limits may be unbounded)', () => {
    for (const b of [batch({ limits: { loop: 1, thread: 2, process: 3, command: 4 } }), batch({ shutdown: null }), batch({ stats: {} as EventBatch['stats'] })]) {
      expect(eventMessage(b)).toEqual({ type: 'event', event: b })
    }
  })
})
