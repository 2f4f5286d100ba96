// The timeline's data: lanes (engine loop, one per worker thread, one per pool process, one for
// commands) and per attempt a wait segment apart from the run segment, coloured by outcome; rows
// where runs overlap, gone pool workers, the hover text.
import { describe, expect, it } from 'vitest'
import type { TaskSnapshot, WorkerStat } from '../../common/types'
import { buildTimeline, laneOf, segmentsOf, tooltipOf } from '../../renderer/src/timeline'
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

const run = (id: string, executor: TaskSnapshot['executor'], worker: string, start: number, end: number | null, extra: Partial<TaskSnapshot> = {}) =>
  task({
    id,
    executor,
    state: end === null ? 'running' : 'done',
    createdAt: t0,
    startedAt: t0 + start,
    endedAt: end === null ? null : t0 + end,
    worker,
    attempts: [{ attempt: 1, worker, startedAt: t0 + start, endedAt: end === null ? null : t0 + end, outcome: end === null ? null : 'done', reason: null, error: null }],
    ...extra,
  })

describe('timeline rows and gone workers', () => {
  it('overlapping loop tasks get a row each (gather: three bars, not one)', () => {
    const data = buildTimeline([run('a', 'loop', 'loop', 10, 1010), run('b', 'loop', 'loop', 10, 2010), run('c', 'loop', 'loop', 10, 4010)])
    expect(data.lanes[0]!.rows).toBe(3)
    const runRows = data.segments.get('loop')!.map((s, i) => [s.taskId, s.kind, data.rows.get('loop')![i]])
    expect(runRows).toEqual([
      ['a', 'wait', 0], ['a', 'run', 0],
      ['b', 'wait', 1], ['b', 'run', 1],
      ['c', 'wait', 2], ['c', 'run', 2],
    ])
  })

  it('sequential runs share a row; a run starting as another ends reuses its row; an open run holds its row', () => {
    const data = buildTimeline([
      run('s1', 'command', 'pid 1', 0, 100),
      run('s2', 'command', 'pid 2', 100, 200),
      run('open', 'command', 'pid 3', 50, null),
      run('s3', 'command', 'pid 4', 300, 400),
    ])
    const lane = data.lanes.find((l) => l.key === 'commands')!
    expect(lane.rows).toBe(2)
    const rowOf = (id: string) => data.rows.get('commands')![data.segments.get('commands')!.findIndex((s) => s.taskId === id && s.kind === 'run')]
    expect([rowOf('s1'), rowOf('s2'), rowOf('open'), rowOf('s3')]).toEqual([0, 0, 1, 0])
  })

  it('rows are kept per lane while its tasks stay the same, and recomputed when one changes', () => {
    const a = run('ka', 'loop', 'loop', 0, 100)
    const b = run('kb', 'loop', 'loop', 50, null)
    const first = buildTimeline([a, b])
    expect(buildTimeline([a, b]).rows.get('loop')).toBe(first.rows.get('loop'))
    const after = buildTimeline([a, run('kb', 'loop', 'loop', 150, 200)])
    expect(after.rows.get('loop')).not.toBe(first.rows.get('loop'))
    expect(after.lanes[0]!.rows).toBe(1)
  })

  it('a thread or process keeps one row (it runs one task at a time; its queue waits overlap)', () => {
    const data = buildTimeline([run('t1', 'thread', 'thread 1', 0, 100), run('t2', 'thread', 'thread 1', 100, 200)])
    expect(data.lanes[0]!.rows).toBe(1)
    expect(data.rows.get('thread:thread 1')!.every((r) => r === 0)).toBe(true)
  })

  it('a pool worker not in the stats and running nothing is gone; the loop, commands and running workers never are', () => {
    const tasks = [
      run('old', 'thread', 'thread 1', 0, 100),
      run('busy', 'thread', 'thread 2', 0, null),
      run('now', 'thread', 'thread 3', 0, 100),
      run('p', 'process', 'pid 40', 0, 100),
      run('l', 'loop', 'loop', 0, 100),
      run('c', 'command', 'pid 50', 0, 100),
    ]
    const workers: WorkerStat[] = [{ label: 'thread 3', executor: 'thread', busyMs: 0, runs: 1, utilization: 0 }]
    const gone = buildTimeline(tasks, workers).lanes.filter((l) => l.gone).map((l) => l.label)
    expect(gone).toEqual(['thread 1', 'process pid 40'])
    // Before the first stats nothing is known to be gone.
    expect(buildTimeline(tasks, null).lanes.some((l) => l.gone)).toBe(false)
  })

  it('the hover text: name, state, wait (created → started), run (started → ended or now), worker', () => {
    expect(tooltipOf(run('h', 'loop', 'loop', 250, 4250, { name: 'sleep 4 s' }), t0 + 10_000)).toBe(
      'sleep 4 s\nstate: done\nwait: 250 ms\nrun: 4.0 s\nworker: loop',
    )
    expect(tooltipOf(run('h2', 'thread', 'thread 2', 1000, null, { name: 'spin' }), t0 + 3500)).toBe(
      'spin\nstate: running\nwait: 1.0 s\nrun: 2.5 s\nworker: thread 2',
    )
    expect(tooltipOf(task({ id: 'q', name: 'queued', createdAt: t0 }), t0 + 700)).toBe('queued\nstate: pending\nwait: 700 ms\nrun: –\nworker: –')
  })
})
