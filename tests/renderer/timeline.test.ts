// The timeline's data: lanes (engine loop, one per worker thread, one per pool process, one for
// commands) and per attempt a wait segment apart from the run segment, coloured by outcome.
import { describe, expect, it } from 'vitest'
import { buildTimeline, laneOf, segmentsOf } from '../../renderer/src/timeline'
import { task } from './fixtures'

const t0 = 1_700_000_000_000

describe('timeline data', () => {
  it('puts loop jobs on the engine loop, pool work on its worker, commands on one lane', () => {
    expect(laneOf('loop', 'loop').label).toBe('engine loop')
    expect(laneOf('thread', 'thread 3')).toEqual({ key: 'thread:thread 3', label: 'thread 3', kind: 'thread' })
    expect(laneOf('process', 'pid 42').label).toBe('process pid 42')
    expect(laneOf('command', 'pid 77').key).toBe('commands')
  })

  it('draws the queue wait apart from the run, and each retry as its own segments', () => {
    const t = task({
      id: 'r',
      executor: 'thread',
      state: 'done',
      createdAt: t0,
      worker: 'thread 2',
      attempts: [
        { attempt: 1, worker: 'thread 1', startedAt: t0 + 100, endedAt: t0 + 300, outcome: 'pending', reason: 'error', error: 'x' },
        { attempt: 2, worker: 'thread 2', startedAt: t0 + 400, endedAt: t0 + 900, outcome: 'done', reason: null, error: null },
      ],
    })
    const { segments } = segmentsOf(t)
    expect(segments.map((s) => [s.kind, s.lane, s.start - t0, s.end! - t0, s.outcome])).toEqual([
      ['wait', 'thread:thread 1', 0, 100, 'pending'],
      ['run', 'thread:thread 1', 100, 300, 'retried'],
      ['wait', 'thread:thread 2', 300, 400, 'pending'],
      ['run', 'thread:thread 2', 400, 900, 'done'],
    ])
  })

  it('a running attempt is open-ended; lanes come loop, threads, processes, commands', () => {
    const tasks = [
      task({ id: 'c', executor: 'command', state: 'running', createdAt: t0, attempts: [{ attempt: 1, worker: 'pid 9', startedAt: t0, endedAt: null, outcome: null, reason: null, error: null }] }),
      task({ id: 'p', executor: 'process', state: 'done', createdAt: t0, attempts: [{ attempt: 1, worker: 'pid 5', startedAt: t0, endedAt: t0 + 5, outcome: 'done', reason: null, error: null }] }),
      task({ id: 't10', executor: 'thread', state: 'failed', createdAt: t0, attempts: [{ attempt: 1, worker: 'thread 10', startedAt: t0, endedAt: t0 + 5, outcome: 'failed', reason: 'error', error: 'boom' }] }),
      task({ id: 't2', executor: 'thread', state: 'cancelling', createdAt: t0, attempts: [{ attempt: 1, worker: 'thread 2', startedAt: t0, endedAt: null, outcome: null, reason: null, error: null }] }),
      task({ id: 'l', executor: 'loop', state: 'cancelled', createdAt: t0 - 50, attempts: [{ attempt: 1, worker: 'loop', startedAt: t0, endedAt: t0 + 1, outcome: 'cancelled', reason: 'user', error: null }] }),
      task({ id: 'never', executor: 'loop', state: 'pending' }),
    ]
    const data = buildTimeline(tasks)
    expect(data.lanes.map((l) => l.label)).toEqual(['engine loop', 'thread 2', 'thread 10', 'process pid 5', 'commands'])
    expect(data.segments.get('commands')![0]!.end).toBeNull()
    expect(data.segments.get('commands')![0]!.outcome).toBe('running')
    expect(data.segments.get('thread:thread 2')![0]!.outcome).toBe('cancelling')
    expect(data.segments.get('thread:thread 10')![0]!.outcome).toBe('failed')
    expect(data.start).toBe(t0 - 50)
  })
})
