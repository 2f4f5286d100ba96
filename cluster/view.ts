// What a node knows of the cluster tasks it does not run itself: waiting in a queue, or running
// (or finished) on another node. Fed by `taskloop:events` (every node publishes its cluster
// tasks' changes and log lines there) and by this node's own submits; bounded, oldest finished
// forgotten first. The node merges it into list/get/snapshot/subscribe (cluster/index.ts).
import { emptyCounters, isFinal, SNAPSHOT_DEFAULTS, type Counters, type ExecutorKind, type LogLine, type TaskSnapshot, type TaskSpec, type TaskState } from '../common/types'
import { executorOf } from '../engine/submit-plan'
import { attemptsForm, OWN_ATTEMPT, ownAttempts } from '../common/wire'

/** Remote tasks kept; past it the oldest finished ones are forgotten (their own node keeps them). */
const MAX_TASKS = 20_000
/** Log lines kept per remote task (the tail a detail pane opens with). */
const MAX_LOG_LINES = 500

export class RemoteTasks {
  readonly tasks = new Map<string, TaskSnapshot>()
  readonly counters: Counters = emptyCounters()
  private readonly logs = new Map<string, LogLine[]>()
  private readonly logListeners = new Map<string, Set<(lines: LogLine[]) => void>>()

  /**
   * A task's snapshot, unless the view holds a newer word on it (messages from different nodes
   * race: a submitter's "queued" may arrive after the runner's "done"). Returns whether it was taken.
   */
  put(snap: TaskSnapshot): boolean {
    const old = this.tasks.get(snap.id)
    if (old && !isNewer(snap, old)) return false
    if (old) this.counters[old.state]--
    this.counters[snap.state]++
    // Moved to the end: the oldest entries are the ones least recently changed.
    if (old) this.tasks.delete(snap.id)
    this.tasks.set(snap.id, snap)
    if (this.tasks.size > MAX_TASKS) this.trim()
    return true
  }

  /** This node runs it now: its engine holds the task. */
  drop(id: string): void {
    const old = this.tasks.get(id)
    if (!old) return
    this.counters[old.state]--
    this.tasks.delete(id)
    this.logs.delete(id)
  }

  appendLog(id: string, lines: LogLine[]): void {
    if (!this.tasks.has(id) || lines.length === 0) return
    let tail = this.logs.get(id)
    if (!tail) this.logs.set(id, (tail = []))
    tail.push(...lines)
    if (tail.length > MAX_LOG_LINES) tail.splice(0, tail.length - MAX_LOG_LINES)
    for (const l of this.logListeners.get(id) ?? []) l(lines)
  }

  logTail(id: string): LogLine[] {
    return this.logs.get(id) ?? []
  }

  /** Existing tail first, then new lines (TaskloopApi.subscribeLog). */
  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    let set = this.logListeners.get(id)
    if (!set) this.logListeners.set(id, (set = new Set()))
    set.add(listener)
    const tail = this.logTail(id)
    if (tail.length > 0) listener([...tail])
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.logListeners.get(id) === set) this.logListeners.delete(id)
    }
  }

  /** Ids trimmed since the last takeForgotten: the next event batch's `forgot`, as the engine's own. */
  private forgotten: string[] = []

  takeForgotten(): string[] | null {
    if (this.forgotten.length === 0) return null
    const ids = this.forgotten
    this.forgotten = []
    return ids
  }

  /** Forgets the oldest finished tasks in steps of a tenth, as the engine does (engine/retention.ts). */
  private trim(): void {
    const keep = MAX_TASKS - MAX_TASKS / 10
    for (const [id, t] of this.tasks) {
      if (this.tasks.size <= keep) return
      if (isFinal(t.state)) {
        this.drop(id)
        this.forgotten.push(id)
      }
    }
  }
}

const RANK: Record<TaskState, number> = { pending: 0, running: 1, cancelling: 2, done: 3, failed: 3, cancelled: 3 }

/** Whether `a` is at least as late in the task's life as `b`: a later attempt, or the same one as far or further. */
export const isNewer = (a: TaskSnapshot, b: TaskSnapshot): boolean =>
  a.attempt !== b.attempt ? a.attempt > b.attempt : RANK[a.state] >= RANK[b.state]

/** What a cluster task's snapshot takes from its spec (queuedSnapshot), and the spec as shown. */
function fromSpec(spec: unknown): { spec: TaskSpec; name: string; executor: ExecutorKind; group: string | null } {
  const s = (spec && typeof spec === 'object' ? spec : {}) as TaskSpec
  let executor: ExecutorKind = 'loop'
  try {
    executor = executorOf(s)
  } catch {
    // Not a spec at all (refused by the node that got it): shown as it came.
  }
  const name = typeof s.name === 'string' ? s.name : 'job' in s && typeof s.job === 'string' ? s.job : 'command' in s && typeof s.command === 'string' ? s.command.slice(0, 200) : 'queued task'
  return { spec: s, name, executor, group: typeof s.group === 'string' ? s.group : null }
}

/** A cluster task as the view shows it before (or without) a node's engine holding it. */
export function queuedSnapshot(
  id: string,
  spec: unknown,
  queue: string,
  fields: Partial<TaskSnapshot> & { createdAt?: number } = {},
): TaskSnapshot {
  const f = fromSpec(spec)
  return {
    id,
    name: f.name,
    executor: f.executor,
    state: 'pending',
    ...SNAPSHOT_DEFAULTS,
    attempt: 1,
    group: f.group,
    createdAt: Date.now(),
    spec: f.spec,
    queue,
    node: null,
    ...fields,
  }
}

/** The fields of every queuedSnapshot that do not come from its id, queue, time or spec. */
const QUEUED_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({ state: 'pending', ...SNAPSHOT_DEFAULTS, attempt: 1, node: null })

/**
 * A cluster task as `taskloop:events` carries it: its id, queue, creation time and spec, and only
 * the fields in which it differs from the queuedSnapshot every node makes of those four (attempts
 * as OWN_ATTEMPT when they list only the current one, as on the wires): a finished tiny task goes
 * in a third of its snapshot's bytes, a task just queued as those four alone.
 */
export type TaskChanges = Record<string, unknown> & { id: string; queue: string; createdAt: number; spec: TaskSpec }

export function taskChanges(t: TaskSnapshot): TaskChanges {
  const f = fromSpec(t.spec)
  const out: TaskChanges = { id: t.id, queue: t.queue ?? '', createdAt: t.createdAt, spec: t.spec }
  const fields = t as unknown as Record<string, unknown>
  for (const k in fields) {
    if (k === 'id' || k === 'queue' || k === 'createdAt' || k === 'spec') continue
    const v = fields[k]
    const b = k === 'name' ? f.name : k === 'executor' ? f.executor : k === 'group' ? f.group : QUEUED_FIELDS[k]
    if (v === b || (Array.isArray(v) && v.length === 0 && Array.isArray(b) && b.length === 0)) continue
    out[k] = k === 'attempts' ? attemptsForm(t) : v
  }
  return out
}

/** The snapshot a TaskChanges stands for (outside data: the caller checks its state and name). */
export function fromChanges(c: TaskChanges): TaskSnapshot {
  const t = queuedSnapshot(c.id, c.spec, c.queue, c as Partial<TaskSnapshot>)
  if ((t.attempts as unknown) === OWN_ATTEMPT) t.attempts = ownAttempts(t)
  return t
}

/**
 * The tasks of one `taskloop:events` message, each field (and spec field) that all of them share
 * said once in `same`: one submit's tasks share their queue, time and job; one turn's finals their
 * state, node and worker. A message of many tasks goes in about half the bytes (Redis writes each
 * message to every node), a lone task as it is.
 */
export interface PackedChanges {
  same?: Record<string, unknown>
  tasks: Record<string, unknown>[]
}

const plain = (v: unknown): boolean => v === null || (v !== undefined && typeof v !== 'object')

/** The primitive fields of `first` that every one of `all` has, with the same value. */
function shared(first: Record<string, unknown>, all: readonly Record<string, unknown>[], skip?: string): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null
  for (const k in first) {
    const v = first[k]
    if (k === skip || !plain(v)) continue
    let every = true
    for (let i = 1; i < all.length && every; i++) every = all[i]![k] === v
    if (every) (out ??= {})[k] = v
  }
  return out
}

export function packChanges(list: TaskChanges[]): PackedChanges {
  if (list.length < 2) return { tasks: list }
  const same = shared(list[0]!, list, 'id')
  const specs = list.map((c) => (c.spec && typeof c.spec === 'object' ? (c.spec as Record<string, unknown>) : {}))
  const sameSpec = shared(specs[0]!, specs)
  if (!same && !sameSpec) return { tasks: list }
  const tasks = list.map((c, i) => {
    const o: Record<string, unknown> = {}
    for (const k in c) {
      if (k === 'spec' && sameSpec) {
        const s: Record<string, unknown> = {}
        const spec = specs[i]!
        for (const f in spec) if (!(f in sameSpec)) s[f] = spec[f]
        o.spec = s
      } else if (!same || !(k in same)) o[k] = c[k]
    }
    return o
  })
  return { same: { ...same, ...(sameSpec ? { spec: sameSpec } : {}) }, tasks }
}

/** One task of a PackedChanges whole again (outside data: the caller checks what it got). */
export function unpackChanges(same: Record<string, unknown> | undefined, t: Record<string, unknown>): Record<string, unknown> {
  if (!same) return t
  // Copied key by key: spreads of these parsed objects cost ~10 µs a task (measured), loops ~0.2.
  const c = copyInto(copyInto({}, same), t)
  const spec = same.spec
  if (spec && typeof spec === 'object') {
    const s = copyInto({}, spec as Record<string, unknown>)
    const own = t.spec
    if (own && typeof own === 'object') copyInto(s, own as Record<string, unknown>)
    c.spec = s
  }
  return c
}

/**
 * `from`'s own fields onto `to`, as a spread would put them (outside data: a "__proto__" key is
 * skipped, where a spread would make it a field and an assignment would set the prototype).
 */
function copyInto(to: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const k in from) if (k !== '__proto__' && Object.hasOwn(from, k)) to[k] = from[k]
  return to
}
