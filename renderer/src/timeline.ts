// What the timeline draws, from the task snapshots: one lane for the engine loop, one per worker
// thread, one per pool process, one for commands; per attempt a wait segment (queued) and a run
// segment (on a worker), coloured by how the attempt ended. Pure functions, cached per snapshot.
import type { Attempt, TaskSnapshot, TaskState } from '../../common/types'

export type LaneKind = 'loop' | 'thread' | 'process' | 'command'

export interface Lane {
  key: string
  label: string
  kind: LaneKind
}

/** How a segment is coloured: a final state, 'retried' (an attempt that failed and went again), or live. */
export type Outcome = TaskState | 'retried'

export interface Segment {
  taskId: string
  lane: string
  kind: 'wait' | 'run'
  attempt: number
  start: number
  /** null while it lasts. */
  end: number | null
  outcome: Outcome
}

const KIND_ORDER: Record<LaneKind, number> = { loop: 0, thread: 1, process: 2, command: 3 }

/** The lane an attempt ran in. Commands share one lane (each is its own process group). */
export function laneOf(executor: TaskSnapshot['executor'], worker: string | null): Lane {
  if (executor === 'loop') return { key: 'loop', label: 'engine loop', kind: 'loop' }
  if (executor === 'command') return { key: 'commands', label: 'commands', kind: 'command' }
  const label = worker ?? 'unassigned'
  if (executor === 'thread') return { key: `thread:${label}`, label, kind: 'thread' }
  return { key: `process:${label}`, label: worker ? `process ${worker}` : 'process (unassigned)', kind: 'process' }
}

export function compareLanes(a: Lane, b: Lane): number {
  return (
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    (Number(/\d+/.exec(a.label)?.[0] ?? 0) - Number(/\d+/.exec(b.label)?.[0] ?? 0)) ||
    a.label.localeCompare(b.label)
  )
}

function outcomeOf(t: TaskSnapshot, a: Attempt): Outcome {
  if (a.outcome === 'pending') return 'retried'
  return a.outcome ?? (t.state === 'cancelling' ? 'cancelling' : 'running')
}

const cache = new WeakMap<TaskSnapshot, { lanes: Lane[]; segments: Segment[] }>()

/** The segments of one task: each attempt's wait (from creation, or from the previous attempt's end) and run. */
export function segmentsOf(t: TaskSnapshot): { lanes: Lane[]; segments: Segment[] } {
  let out = cache.get(t)
  if (out) return out
  const lanes: Lane[] = []
  const segments: Segment[] = []
  let queuedSince = t.createdAt
  for (const a of t.attempts) {
    const lane = laneOf(t.executor, a.worker ?? t.worker)
    lanes.push(lane)
    if (a.startedAt > queuedSince) {
      segments.push({ taskId: t.id, lane: lane.key, kind: 'wait', attempt: a.attempt, start: queuedSince, end: a.startedAt, outcome: 'pending' })
    }
    segments.push({ taskId: t.id, lane: lane.key, kind: 'run', attempt: a.attempt, start: a.startedAt, end: a.endedAt, outcome: outcomeOf(t, a) })
    if (a.endedAt !== null) queuedSince = a.endedAt
  }
  out = { lanes, segments }
  cache.set(t, out)
  return out
}

export interface TimelineData {
  lanes: Lane[]
  /** Segments per lane key. */
  segments: Map<string, Segment[]>
  /** Earliest start among everything, for "show all". */
  start: number | null
}

/** Every lane and segment of these tasks (only tasks that started at least once have any). */
export function buildTimeline(tasks: Iterable<TaskSnapshot>): TimelineData {
  const lanes = new Map<string, Lane>()
  const segments = new Map<string, Segment[]>()
  let start: number | null = null
  for (const t of tasks) {
    if (t.attempts.length === 0) continue
    const s = segmentsOf(t)
    for (const lane of s.lanes) if (!lanes.has(lane.key)) lanes.set(lane.key, lane)
    for (const seg of s.segments) {
      const list = segments.get(seg.lane)
      if (list) list.push(seg)
      else segments.set(seg.lane, [seg])
      if (start === null || seg.start < start) start = seg.start
    }
  }
  return { lanes: [...lanes.values()].sort(compareLanes), segments, start }
}
