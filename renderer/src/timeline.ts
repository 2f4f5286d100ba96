// What the timeline draws, from the task snapshots: one lane for the engine loop, one per worker
// thread, one per pool process, one for commands; per attempt a wait segment (queued) and a run
// segment (on a worker), coloured by how the attempt ended. The loop and commands run many tasks
// at once, so their lanes split into sub-lanes (rows) where runs overlap; a thread or process runs
// one at a time and keeps one row. In a cluster, once some task carries a `node`, every
// lane belongs to a node: the same lanes per node, this node's first (its local tasks are its own).
// Pure functions, cached per snapshot and per lane.
import type { Attempt, TaskSnapshot, TaskState, WorkerStat } from '../../common/types'
import { formatDuration } from './format'

export type LaneKind = 'loop' | 'thread' | 'process' | 'command'

export interface Lane {
  key: string
  label: string
  kind: LaneKind
  /** The cluster node it belongs to; absent when the timeline has no node lanes. */
  node?: string
}

/** A lane as drawn: how many rows its overlapping runs need, and whether its worker is gone. */
export interface LaneView extends Lane {
  rows: number
  /** A pool worker that is no longer in the engine's stats and runs nothing (replaced or shrunk away). */
  gone: boolean
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

/**
 * The lane an attempt ran in. Commands share one lane (each is its own process group). With a
 * node, the lane is that node's: its key starts with the node's id.
 */
export function laneOf(executor: TaskSnapshot['executor'], worker: string | null, node: string | null = null): Lane {
  const lane = localLaneOf(executor, worker)
  return node === null ? lane : { ...lane, key: `${node}/${lane.key}`, node }
}

function localLaneOf(executor: TaskSnapshot['executor'], worker: string | null): Lane {
  if (executor === 'loop') return { key: 'loop', label: 'engine loop', kind: 'loop' }
  if (executor === 'command') return { key: 'commands', label: 'commands', kind: 'command' }
  const label = worker ?? 'unassigned'
  if (executor === 'thread') return { key: `thread:${label}`, label, kind: 'thread' }
  return { key: `process:${label}`, label: worker ? `process ${worker}` : 'process (unassigned)', kind: 'process' }
}

/** Lanes by node (this node first, then by id), then loop, threads, processes, commands. */
export function compareLanes(a: Lane, b: Lane, self: string | null = null): number {
  const nodeOrder =
    a.node === b.node ? 0 : a.node === self ? -1 : b.node === self ? 1 : (a.node ?? '').localeCompare(b.node ?? '')
  return (
    nodeOrder ||
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    (Number(/\d+/.exec(a.label)?.[0] ?? 0) - Number(/\d+/.exec(b.label)?.[0] ?? 0)) ||
    a.label.localeCompare(b.label)
  )
}

function outcomeOf(t: TaskSnapshot, a: Attempt): Outcome {
  if (a.outcome === 'pending') return 'retried'
  return a.outcome ?? (t.state === 'cancelling' ? 'cancelling' : 'running')
}

const cache = new WeakMap<TaskSnapshot, { node: string | null; lanes: Lane[]; segments: Segment[] }>()

/**
 * The segments of one task: each attempt's wait (from creation, or from the previous attempt's end)
 * and run. `localNode`: with node lanes, the node of a task that names none (this node's own).
 */
export function segmentsOf(t: TaskSnapshot, localNode: string | null = null): { lanes: Lane[]; segments: Segment[] } {
  const node = localNode === null ? null : (t.node ?? localNode)
  let out = cache.get(t)
  if (out && out.node === node) return out
  const lanes: Lane[] = []
  const segments: Segment[] = []
  let queuedSince = t.createdAt
  for (const a of t.attempts) {
    const lane = laneOf(t.executor, a.worker ?? t.worker, node)
    lanes.push(lane)
    if (a.startedAt > queuedSince) {
      segments.push({ taskId: t.id, lane: lane.key, kind: 'wait', attempt: a.attempt, start: queuedSince, end: a.startedAt, outcome: 'pending' })
    }
    segments.push({ taskId: t.id, lane: lane.key, kind: 'run', attempt: a.attempt, start: a.startedAt, end: a.endedAt, outcome: outcomeOf(t, a) })
    if (a.endedAt !== null) queuedSince = a.endedAt
  }
  out = { node, lanes, segments }
  cache.set(t, out)
  return out
}

/** Lanes whose tasks run at the same time: the loop (async jobs) and commands (one process group each). */
const OVERLAPPING: ReadonlySet<LaneKind> = new Set(['loop', 'command'])

/**
 * Rows for one lane's segments (parallel to them), by interval partitioning: runs in start order,
 * each to the first row whose last run ended before it started; a wait shares its run's row.
 */
export function assignRows(segments: readonly Segment[]): { rows: number[]; count: number } {
  const runs: number[] = []
  segments.forEach((s, i) => {
    if (s.kind === 'run') runs.push(i)
  })
  runs.sort((a, b) => segments[a]!.start - segments[b]!.start)
  const rowEnds: number[] = []
  const rows = new Array<number>(segments.length).fill(0)
  for (const i of runs) {
    const s = segments[i]!
    let row = rowEnds.findIndex((end) => end <= s.start)
    if (row < 0) row = rowEnds.push(0) - 1
    rowEnds[row] = s.end ?? Infinity
    rows[i] = row
  }
  // A wait precedes its run in the same task's list (segmentsOf), so the next run's row is the wait's.
  for (let i = segments.length - 2; i >= 0; i--) {
    const s = segments[i]!
    const next = segments[i + 1]!
    if (s.kind === 'wait' && next.taskId === s.taskId && next.attempt === s.attempt) rows[i] = rows[i + 1]!
  }
  return { rows, count: Math.max(1, rowEnds.length) }
}

// Per lane: the last segment list and its rows. The segments are cached per snapshot, so when no
// task of a lane changed its list holds the same objects and the sort is skipped.
const rowCache = new Map<string, { segments: Segment[]; rows: number[]; count: number }>()

function rowsOf(lane: Lane, segments: Segment[]): { rows: number[]; count: number } {
  const cached = rowCache.get(lane.key)
  if (cached && cached.segments.length === segments.length && cached.segments.every((s, i) => s === segments[i])) return cached
  const out = {
    segments,
    ...(OVERLAPPING.has(lane.kind) ? assignRows(segments) : { rows: new Array<number>(segments.length).fill(0), count: 1 }),
  }
  rowCache.set(lane.key, out)
  return out
}

/** The lane key of a pool worker in the stats ("thread:thread 3", "process:pid 42"). */
export function workerLaneKey(w: Pick<WorkerStat, 'executor' | 'label'>): string {
  return `${w.executor}:${w.label}`
}

/** What a hover on a bar says: name, state, wait (created → started), run (started → ended or now), worker, node. */
export function tooltipOf(t: TaskSnapshot, now: number): string {
  const wait = t.startedAt === null ? now - t.createdAt : t.startedAt - t.createdAt
  const run = t.startedAt === null ? null : (t.endedAt ?? now) - t.startedAt
  return [
    t.name,
    `state: ${t.state}${t.attempts.length > 1 ? ` (attempt ${t.attempt})` : ''}`,
    `wait: ${formatDuration(wait)}`,
    `run: ${run === null ? '–' : formatDuration(run)}`,
    `worker: ${t.worker ?? t.attempts.at(-1)?.worker ?? '–'}`,
    ...(t.node ? [`node: ${t.node}`] : []),
  ].join('\n')
}

export interface TimelineData {
  lanes: LaneView[]
  /** Segments per lane key. */
  segments: Map<string, Segment[]>
  /** Each segment's row within its lane, parallel to `segments`. */
  rows: Map<string, number[]>
  /** Earliest start among everything, for "show all". */
  start: number | null
}

/** In node lanes, the node of local tasks when this node's id is not known. */
export const THIS_NODE = 'this node'

/**
 * Every lane and segment of these tasks (only tasks that started at least once have any).
 * `workers`: the pool workers in the latest stats (this node's); a thread or process lane of this
 * node not among them and with nothing running is gone. Null (no stats yet): none is.
 * `local`: node lanes (once tasks carry a node), this node's id for the tasks that name none;
 * null: no node lanes.
 */
export function buildTimeline(
  tasks: Iterable<TaskSnapshot>,
  workers: readonly WorkerStat[] | null = null,
  local: string | null = null,
): TimelineData {
  const lanes = new Map<string, Lane>()
  const segments = new Map<string, Segment[]>()
  let start: number | null = null
  for (const t of tasks) {
    if (t.attempts.length === 0) continue
    const s = segmentsOf(t, local)
    for (const lane of s.lanes) if (!lanes.has(lane.key)) lanes.set(lane.key, lane)
    for (const seg of s.segments) {
      const list = segments.get(seg.lane)
      if (list) list.push(seg)
      else segments.set(seg.lane, [seg])
      if (start === null || seg.start < start) start = seg.start
    }
  }
  const live = workers ? new Set(workers.map((w) => (local === null ? workerLaneKey(w) : `${local}/${workerLaneKey(w)}`))) : null
  const rows = new Map<string, number[]>()
  const views: LaneView[] = [...lanes.values()].sort((a, b) => compareLanes(a, b, local)).map((lane) => {
    const segs = segments.get(lane.key) ?? []
    const r = rowsOf(lane, segs)
    rows.set(lane.key, r.rows)
    // Only this node's workers are in the stats: another node's lane is never called gone.
    const pooled = (lane.kind === 'thread' || lane.kind === 'process') && (lane.node ?? null) === local
    const gone = pooled && live !== null && !live.has(lane.key) && !segs.some((s) => s.end === null)
    return { ...lane, rows: r.count, gone }
  })
  return { lanes: views, segments, rows, start }
}
