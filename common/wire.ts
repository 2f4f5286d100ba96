// Messages on the headless server's WebSocket (`GET /api/events`), both directions, in two forms.
// The HTTP routes are declared with their operations in operations.ts.
//
// Plain (the default): each EngineEvent as the engine made it, one JSON text each. Scripts use it.
// Compact (a client that offers the subprotocol COMPACT_PROTOCOL; the browser UI does): the
// session keeps what its client already has and sends only what changed (docs/ARCHITECTURE.md,
// "The wire"). WireEncoder is the server's end, WireDecoder the client's; the decoder gives back
// plain events, so one Mirror (common/mirror.ts) serves every transport.
//   - Strings travel once per connection, then by number: each message's `s` extends the table
//     (task ids, field names and every string-valued field: names, executors, states, groups...).
//   - A task is a TaskDelta against a base: every field that differs, and the fields it lost. The
//     base is the task before it in the message (tasks listed together are alike), except the
//     FIXED_FIELDS of a task the client holds, which go against its own version (and all of it
//     when it is first in the message); a task new to the client and first goes whole. Field by
//     field, whatever the fields are: one a TaskSnapshot gains later travels without a change here.
//   - `attempts` as OWN_ATTEMPT when it lists only the current attempt, as the task's own fields say.
//   - Left out (DETAIL_ONLY): a task's `result` and its error's `stack`, of any size; the detail
//     pane fetches them with the `get` operation.
//   - Counters only when they changed; stats only the top-level fields that changed.
//   - A batch's `forgot` (tasks the engine let go of) by string number: both ends drop those tasks
//     and strings, and a number is never used again.
//   - A snapshot comes in pages, newest tasks first: `snapshot` (the first page with the counters
//     and the total), then `page`s, back to back (no batch between them). The decoder gives the
//     first page as a snapshot of its own (`partial`), so the table paints, then the whole one.
// A snapshot resets both ends (table and tasks): resync and reconnect start from nothing.
import type { Attempt, Counters, EngineEvent, EventBatch, Limits, LogLine, ShutdownStatus, Snapshot, Stats, TaskSnapshot } from './types'
import { currentAttempt, isFinal } from './types'

/**
 * The fields of a TaskSnapshot (engine/task.ts `snapshot`) fixed when its task is made: read from
 * the task's readonly fields and its spec, or set by the engine before the task's first event
 * (retryOf, queue). Both wires (the engine thread's, engine/thread/event-pack.ts, and this one) send
 * a task the other end holds against the task before it in the message, but these fields against
 * its own earlier version: they differ from task to task and never change.
 */
export const FIXED_FIELDS: ReadonlySet<string> = new Set(['name', 'executor', 'group', 'batchId', 'after', 'createdAt', 'spec', 'parent', 'retryOf', 'queue'])
export const FIXED_LIST: readonly string[] = [...FIXED_FIELDS]

/**
 * Sets on `t` the FIXED_FIELDS of `from` (an earlier version of the same task), and drops the
 * optional ones `from` has not. Both ends that rebuild tasks (the host's unpacker, WireDecoder) call
 * it for nearly every task of a batch: named loads and stores, where a loop over FIXED_LIST reads
 * and writes each field by a computed key, several times slower. A test keeps it to FIXED_LIST.
 */
export function copyFixed(t: Record<string, unknown>, from: Record<string, unknown>): void {
  // Every TaskSnapshot has these.
  t.name = from.name
  t.executor = from.executor
  t.group = from.group
  t.batchId = from.batchId
  t.after = from.after
  t.createdAt = from.createdAt
  t.spec = from.spec
  // These only some.
  if (from.parent !== undefined) t.parent = from.parent
  else if (t.parent !== undefined) delete t.parent
  if (from.retryOf !== undefined) t.retryOf = from.retryOf
  else if (t.retryOf !== undefined) delete t.retryOf
  if (from.queue !== undefined) t.queue = from.queue
  else if (t.queue !== undefined) delete t.queue
}

/**
 * A copy of `t` with `id` as its id: the base both ends that rebuild tasks (the host's unpacker,
 * WireDecoder) start each task from. A task with exactly the fields Task.snapshot always gives (its
 * `result` may be absent) is copied by an object literal, in that order: its fields in the object
 * itself, one allocation (`result`, when the task has the key, even undefined). A spread of a spread's copy does not keep that: V8 makes the first copy
 * through its slow path (4 fields in the object, the rest in a separate array grown a few at a time),
 * and every copy of a copy after it takes that layout and that path, ~0.7 µs and ~700 B more per
 * copy. Any other task (one with `parent`, `queue`..., or a field a TaskSnapshot gains later) is
 * spread, field by field as before.
 */
export function copyTask(t: Record<string, unknown>, id: string): Record<string, unknown> {
  if (
    t.id === undefined ||
    t.name === undefined ||
    t.executor === undefined ||
    t.state === undefined ||
    t.reason === undefined ||
    t.waiting === undefined ||
    t.attempt === undefined ||
    t.progress === undefined ||
    t.progressMessage === undefined ||
    t.worker === undefined ||
    t.group === undefined ||
    t.batchId === undefined ||
    t.after === undefined ||
    t.createdAt === undefined ||
    t.startedAt === undefined ||
    t.endedAt === undefined ||
    t.cancelRequestedAt === undefined ||
    t.ignoredCancel === undefined ||
    t.error === undefined ||
    t.attempts === undefined ||
    t.spec === undefined
  )
    return { ...t, id }
  // Those fields and `result` if it has one, and no other: counted, so a field this does not name is never dropped.
  let keys = 0
  for (const _ in t) keys++
  const withResult = 'result' in t
  if (keys !== (withResult ? 22 : 21)) return { ...t, id }
  return withResult
    ? {
        id,
        name: t.name,
        executor: t.executor,
        state: t.state,
        reason: t.reason,
        waiting: t.waiting,
        attempt: t.attempt,
        progress: t.progress,
        progressMessage: t.progressMessage,
        worker: t.worker,
        group: t.group,
        batchId: t.batchId,
        after: t.after,
        createdAt: t.createdAt,
        startedAt: t.startedAt,
        endedAt: t.endedAt,
        cancelRequestedAt: t.cancelRequestedAt,
        ignoredCancel: t.ignoredCancel,
        result: t.result,
        error: t.error,
        attempts: t.attempts,
        spec: t.spec,
      }
    : {
        id,
        name: t.name,
        executor: t.executor,
        state: t.state,
        reason: t.reason,
        waiting: t.waiting,
        attempt: t.attempt,
        progress: t.progress,
        progressMessage: t.progressMessage,
        worker: t.worker,
        group: t.group,
        batchId: t.batchId,
        after: t.after,
        createdAt: t.createdAt,
        startedAt: t.startedAt,
        endedAt: t.endedAt,
        cancelRequestedAt: t.cancelRequestedAt,
        ignoredCancel: t.ignoredCancel,
        error: t.error,
        attempts: t.attempts,
        spec: t.spec,
      }
}

/**
 * What both wires send for `attempts` in place of a list that holds only the current attempt as the
 * task's own fields say (a task that ran once: nearly every task): the other end makes it again from
 * those fields. A list is always an array, so a number cannot be taken for one.
 */
export const OWN_ATTEMPT = 0

/** `a` is the current attempt of `t` as its own fields say (currentAttempt), field for field, without making one. */
function isCurrent(a: unknown, t: TaskSnapshot): boolean {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return false
  const x = a as Record<string, unknown>
  const final = isFinal(t.state)
  if (
    x.attempt !== t.attempt ||
    x.worker !== t.worker ||
    x.startedAt !== t.startedAt ||
    x.endedAt !== (final ? t.endedAt : null) ||
    x.outcome !== (final ? t.state : null) ||
    x.reason !== (final ? t.reason : null) ||
    x.error !== (t.state === 'failed' ? (t.error?.message ?? null) : null)
  )
    return false
  let keys = 0
  for (const _ in x) keys++
  return keys === 7
}

/** A task's `attempts` as the wires send it: OWN_ATTEMPT, or the list itself (undefined when it has none). */
export function attemptsForm(task: TaskSnapshot | Record<string, unknown>): unknown {
  const list = task.attempts as unknown
  return Array.isArray(list) && list.length === 1 && isCurrent(list[0], task as TaskSnapshot) ? OWN_ATTEMPT : list
}

/**
 * The list OWN_ATTEMPT stands for, for a task whose `attempts` is still what it took from its base:
 * that very list when it says the same (tasks that ended together share one; nothing changes a task's
 * lists), else a new one. Each decoded task would otherwise hold two objects of its own.
 */
export function ownAttempts(t: TaskSnapshot): Attempt[] {
  const list = t.attempts as unknown
  return Array.isArray(list) && list.length === 1 && isCurrent(list[0], t) ? (list as Attempt[]) : [currentAttempt(t)]
}

/**
 * One task of an event batch as the engine thread posts it (engine/thread/event-pack.ts): [id,
 * field, value, field, value, …, removed?]: the fields that differ from its base (by identity, on
 * the engine thread), and last (an even length) the fields its base has and it has not.
 */
export type TaskEntry = unknown[]

/**
 * What the host's unpacker knows of a batch it rebuilt, for the compact sessions that send it on:
 * each task's entry, and the version of the task it took the FIXED_FIELDS from (undefined: none).
 * The unpacker makes task i as a copy of task i - 1 with the entry's fields set and removed, and
 * with the held version's FIXED_FIELDS: so a WireEncoder whose client holds that very version (or,
 * with none, holds nothing of the task) finds what changed against task i - 1 in the entry alone,
 * instead of comparing every field. Only the unpacker's own objects count: `tasks` is the batch's
 * list as it made it, so a task added or replaced since is compared field by field.
 */
export interface BatchEntries {
  tasks: readonly TaskSnapshot[]
  entries: readonly TaskEntry[]
  held: readonly (TaskSnapshot | undefined)[]
}

/** Set by the host's unpacker on each batch it makes; a batch without one is encoded field by field. */
export const batchEntries = new WeakMap<EventBatch, BatchEntries>()

/**
 * The WebSocket subprotocol that asks for the compact form. Its number changes with the form: a tab
 * still running an older script, reconnecting to a newer server, gets the plain form it also reads.
 */
export const COMPACT_PROTOCOL = 'taskloop.compact.4'

/** Messages besides the engine's events, the same in both forms. */
type Extra = { type: 'log'; id: string; lines: LogLine[] } | { type: 'error'; error: string }

/** server → client, plain form */
export type ServerMessage = EngineEvent | Extra

/**
 * One task: [its id, [field, string]…, [field, value]…, removed fields?]. Every number is a ref into
 * the string table except the values of the third part (any JSON).
 */
export type TaskDelta = [id: number, strings: number[], values: unknown[], removed?: number[]]

export interface CompactSnapshot {
  type: 'snapshot'
  seq: number
  counters: Counters
  limits: Limits
  shutdown: ShutdownStatus | null
  notice?: string
  /** Tasks in the whole snapshot. */
  total: number
  /** Where this page's tasks sit in the snapshot's list (creation order). */
  at: number
  s: string[]
  t: TaskDelta[]
}

export interface CompactPage {
  type: 'page'
  at: number
  s?: string[]
  t: TaskDelta[]
}

export interface CompactBatch {
  type: 'batch'
  seq: number
  s?: string[]
  t: TaskDelta[]
  counters?: Counters
  limits?: Limits
  shutdown?: ShutdownStatus | null
  /** The top-level fields of the engine's stats that changed since the last ones sent. */
  stats?: Partial<Stats>
  notice?: string
  /** The batch's `forgot`, by string number: each number is never used again (the client frees its string). */
  forgot?: number[]
}

/** server → client, compact form */
export type CompactMessage = CompactSnapshot | CompactPage | CompactBatch | Extra

/** client → server */
export type ClientMessage =
  | { type: 'resync' } // the client saw a gap in seq: send a fresh snapshot
  | { type: 'watch-log'; id: string }
  | { type: 'unwatch-log'; id: string }

/** The newest tasks, sent first: more than a screen of rows. */
export const FIRST_PAGE = 200
/** The rest of a snapshot, this many tasks a message. */
export const PAGE = 5000

/**
 * A task's field as the compact form carries it: `result` not at all, an error without its stack
 * (undefined: absent).
 */
function detailOnly(key: string, value: unknown): unknown {
  if (key === 'result') return undefined
  if (key === 'error' && value !== null && typeof value === 'object' && 'stack' in value) {
    const { stack: _, ...rest } = value as Record<string, unknown>
    return rest
  }
  return value
}

/** A task as a compact client holds it (for tests and documentation: what DETAIL_ONLY leaves). */
export function lightTask(t: TaskSnapshot): TaskSnapshot {
  const out: Record<string, unknown> = {}
  for (const key in t) {
    const v = detailOnly(key, (t as unknown as Record<string, unknown>)[key])
    if (v !== undefined) out[key] = v
  }
  return out as unknown as TaskSnapshot
}

/** JSON equality (what the client would decode is the same). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  let n = 0
  for (const k in ra) {
    if (ra[k] === undefined) continue
    n++
    if (!same(ra[k], rb[k])) return false
  }
  for (const k in rb) if (rb[k] !== undefined) n--
  return n === 0
}

/** A task the client holds, as its connection's encoder knows it. */
interface Held {
  /** Its id's string number. */
  ref: number
  task: TaskSnapshot
}

/** The server's end of one connection. */
export class WireEncoder {
  /** The strings sent, by number, but task ids. */
  private refs = new Map<string, number>()
  /** The next string's number: numbers of forgotten tasks' ids are not used again. */
  private nextRef = 0
  private fresh: string[] = []
  /**
   * Each task the client holds: its id's string number and the version it holds (the engine's
   * object; compared field by field). One map for both: a task's id is looked up once per message.
   */
  private held = new Map<string, Held>()
  private counters: Counters | null = null
  private stats: Stats | null = null

  batch(batch: EventBatch): CompactBatch {
    const out: CompactBatch = { type: 'batch', seq: batch.seq, t: this.batchTasks(batch) }
    if (this.counters === null || !same(this.counters, batch.counters)) out.counters = batch.counters
    this.counters = batch.counters
    if (batch.limits) out.limits = batch.limits
    if (batch.shutdown !== undefined) out.shutdown = batch.shutdown
    if (batch.notice !== undefined) out.notice = batch.notice
    if (batch.stats) {
      const last = this.stats as Record<string, unknown> | null
      const stats: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(batch.stats)) if (!last || !same(last[key], value)) stats[key] = value
      out.stats = stats as Partial<Stats>
      this.stats = batch.stats
    }
    if (batch.forgot) {
      // The client lets go of these tasks and of their ids' strings; so does this end.
      const gone: number[] = []
      for (const id of batch.forgot) {
        const h = this.held.get(id)
        if (h === undefined) continue
        this.held.delete(id)
        gone.push(h.ref)
      }
      if (gone.length > 0) out.forgot = gone
    }
    const s = this.take()
    if (s.length > 0) out.s = s
    return out
  }

  /**
   * A snapshot as its pages, in the order to send them; starts the connection's picture over. Lazy:
   * each page is encoded when asked for, so the first can go out before the rest is encoded. Every
   * page must be taken, in order, before the next batch or snapshot.
   */
  *snapshot(snapshot: Snapshot): Generator<CompactSnapshot | CompactPage, void, undefined> {
    this.refs.clear()
    this.nextRef = 0
    this.fresh = []
    this.held.clear()
    this.stats = null
    this.counters = snapshot.counters
    const { tasks } = snapshot
    const total = tasks.length
    let at = Math.max(0, total - FIRST_PAGE)
    const first: CompactSnapshot = {
      type: 'snapshot',
      seq: snapshot.seq,
      counters: snapshot.counters,
      limits: snapshot.limits,
      shutdown: snapshot.shutdown,
      total,
      at,
      t: this.tasks(tasks, at, total),
      s: this.take(),
    }
    if (snapshot.notice !== undefined) first.notice = snapshot.notice
    yield first
    while (at > 0) {
      const end = at
      at = Math.max(0, at - PAGE)
      const page: CompactPage = { type: 'page', at, t: this.tasks(tasks, at, end) }
      const s = this.take()
      if (s.length > 0) page.s = s
      yield page
    }
  }

  private ref(text: string): number {
    let ref = this.refs.get(text)
    if (ref === undefined) {
      ref = this.nextRef++
      this.refs.set(text, ref)
      this.fresh.push(text)
    }
    return ref
  }

  /** Marks `task` as the version the client holds; returns its id's string number. */
  private hold(task: TaskSnapshot, h: Held | undefined): number {
    if (h !== undefined) {
      h.task = task
      return h.ref
    }
    const ref = this.nextRef++
    this.fresh.push(task.id)
    this.held.set(task.id, { ref, task })
    return ref
  }

  /** The strings new since the last message. */
  private take(): string[] {
    const s = this.fresh
    this.fresh = []
    return s
  }

  /** Of the task before in the message (set by `task`): its attempts as sent, its fields (id left out) and how many of them are FIXED_FIELDS. */
  private lastForm: unknown = undefined
  private lastCount = 0
  private lastFixed = 0

  private tasks(list: readonly TaskSnapshot[], from: number, to: number): TaskDelta[] {
    const out = new Array<TaskDelta>(to - from)
    let last: TaskSnapshot | undefined
    for (let i = from; i < to; i++) {
      const task = list[i]!
      out[i - from] = this.task(task, last)
      last = task
    }
    return out
  }

  /** A batch's tasks: from its entry each task the unpacker made as this client holds it (see BatchEntries), the others field by field. */
  private batchTasks(batch: EventBatch): TaskDelta[] {
    const list = batch.tasks
    const known = batchEntries.get(batch)
    if (known === undefined) return this.tasks(list, 0, list.length)
    const out = new Array<TaskDelta>(list.length)
    let last: TaskSnapshot | undefined
    for (let i = 0; i < list.length; i++) {
      const task = list[i]!
      const h = this.held.get(task.id)
      // Its base is the task before it, both here and in the unpacker, and the client holds what
      // the unpacker took its FIXED_FIELDS from: then its entry says all that changed.
      out[i] =
        last !== undefined && i < known.tasks.length && known.tasks[i] === task && known.tasks[i - 1] === last && h?.task === known.held[i]
          ? this.entryTask(task, last, known.entries[i]!, h)
          : this.task(task, last, h)
      last = task
    }
    return out
  }

  /**
   * A task the unpacker made from `entry` against `last`, the task before it, with the FIXED_FIELDS
   * of the version the client holds (or against `last` for those too, when it holds none): the same
   * delta as `task` gives, from the entry's fields alone.
   */
  private entryTask(task: TaskSnapshot, last: TaskSnapshot, entry: TaskEntry, h: Held | undefined): TaskDelta {
    const t = task as unknown as Record<string, unknown>
    const prev = last as unknown as Record<string, unknown>
    const idRef = this.hold(task, h)
    const strings = scratchStrings
    const values = scratchValues
    // Empty unless a delta before this one threw half made.
    strings.length = values.length = 0
    // `attempts` as `task` compares it: as sent, whatever the entry says (its form depends on the task's own fields).
    const form = t.attempts === undefined ? undefined : attemptsForm(t)
    const prevForm = this.lastForm
    if (form !== undefined && form !== prevForm && !(typeof form === 'object' && same(form, prevForm))) values.push(this.ref('attempts'), form)
    const pairs = entry.length % 2 === 1 ? entry.length : entry.length - 1
    for (let j = 1; j < pairs; j += 2) {
      const key = entry[j] as string
      if (key === 'attempts') continue
      const raw = t[key]
      if (raw === undefined || prev[key] === raw) continue
      const value = detailOnly(key, raw)
      if (value === undefined) continue
      if (typeof value === 'object' && same(detailOnly(key, prev[key]), value)) continue
      if (typeof value === 'string') strings.push(this.ref(key), this.ref(value))
      else values.push(this.ref(key), value)
    }
    const delta: TaskDelta = [idRef, taken(strings), taken(values)]
    if (pairs < entry.length) {
      let removed: number[] | undefined
      // The client never holds a `result`: nothing to remove there.
      for (const key of entry[pairs] as string[]) if (key !== 'result' && prev[key] !== undefined) (removed ??= []).push(this.ref(key))
      if (removed) delta.push(removed)
    }
    this.lastForm = form
    // Not counted: the next task compared field by field looks for the fields it lost whatever it has.
    this.lastCount = Infinity
    this.lastFixed = 0
    return delta
  }

  /**
   * `last`: the task before it in the message. The base of each field: for a task the client holds,
   * its own version for the FIXED_FIELDS, `last` for the others (its own version when first in the
   * message); for a task new to the client, `last` (none when first).
   */
  private task(task: TaskSnapshot, last: TaskSnapshot | undefined, h = this.held.get(task.id)): TaskDelta {
    const t = task as unknown as Record<string, unknown>
    const held = h?.task as unknown as Record<string, unknown> | undefined
    const idRef = this.hold(task, h)
    const prev = (last ?? held) as unknown as Record<string, unknown> | undefined
    /** Where the FIXED_FIELDS come from; `split`: not from `prev`. */
    const fixedFrom = held ?? prev
    const split = fixedFrom !== prev
    const prevForm = last !== undefined ? this.lastForm : prev === undefined || prev.attempts === undefined ? undefined : attemptsForm(prev)
    const form = t.attempts === undefined ? undefined : attemptsForm(t)
    const strings = scratchStrings
    const values = scratchValues
    // Empty unless a delta before this one threw half made.
    strings.length = values.length = 0
    let count = 0
    let fixedCount = 0
    /** Fields of `prev` it has too (the FIXED_FIELDS left out when split). */
    let shared = 0
    for (const key in t) {
      const raw = t[key]
      if (key === 'id' || raw === undefined) continue
      count++
      const fixed = FIXED_FIELDS.has(key)
      if (fixed) fixedCount++
      if (prev !== undefined && !(split && fixed) && prev[key] !== undefined) shared++
      const base = fixed ? fixedFrom : prev
      if (key === 'attempts') {
        // As sent (see attemptsForm): the same list may be the current attempt of one task and not of another.
        if (base !== undefined && (form === prevForm || (typeof form === 'object' && same(form, prevForm)))) continue
        values.push(this.ref(key), form)
        continue
      }
      // The very same value (the host's tasks share what did not change): the cheapest test first.
      if (base !== undefined && base[key] === raw) continue
      const value = detailOnly(key, raw)
      if (value === undefined) continue
      if (base !== undefined && typeof value === 'object' && same(detailOnly(key, base[key]), value)) continue
      if (typeof value === 'string') strings.push(this.ref(key), this.ref(value))
      else values.push(this.ref(key), value)
    }
    const delta: TaskDelta = [idRef, taken(strings), taken(values)]
    // Lost: its base had the field (as the client holds it: never `result`), it has it no more. Only
    // looked for when it has fewer of the fields of the task before it than that one has.
    let removed: number[] | undefined
    if (prev !== undefined && (last === undefined || shared < (split ? this.lastCount - this.lastFixed : this.lastCount))) {
      for (const key in prev) {
        if (t[key] !== undefined || key === 'result' || prev[key] === undefined || (split && FIXED_FIELDS.has(key))) continue
        ;(removed ??= []).push(this.ref(key))
      }
    }
    if (split && fixedFrom !== undefined) {
      for (const key of FIXED_LIST) {
        if (t[key] !== undefined || fixedFrom[key] === undefined) continue
        ;(removed ??= []).push(this.ref(key))
      }
    }
    if (removed) delta.push(removed)
    this.lastForm = form
    this.lastCount = count
    this.lastFixed = fixedCount
    return delta
  }
}

/**
 * A delta's lists are made in these (WireEncoder, one task at a time), then copied at their length:
 * two new arrays grown by push took ~350 B per task for the few fields most deltas carry.
 */
const scratchStrings: number[] = []
const scratchValues: unknown[] = []
/** A copy of `list` at its length, and `list` emptied. */
function taken<T>(list: T[]): T[] {
  const copy = list.slice()
  list.length = 0
  return copy
}

/** The client's end of one connection: compact messages back into plain ones. */
export class WireDecoder {
  private strings: string[] = []
  private tasks = new Map<string, TaskSnapshot>()
  private counters: Counters | null = null
  private stats: Stats | null = null
  /** The snapshot whose pages are still coming. */
  private filling: { snapshot: Snapshot; tasks: TaskSnapshot[]; missing: number } | null = null

  /**
   * One message. `emit` hears the plain messages it amounts to (none for a page before the last);
   * `partial` marks a snapshot that holds the first page only (the whole one follows).
   */
  decode(message: CompactMessage, emit: (message: ServerMessage, partial: boolean) => void): void {
    switch (message.type) {
      case 'snapshot': {
        this.strings = message.s.slice()
        this.tasks.clear()
        this.stats = null
        this.counters = message.counters
        const page = this.decodeTasks(message.t)
        const snapshot: Snapshot = {
          type: 'snapshot',
          seq: message.seq,
          tasks: page,
          counters: message.counters,
          limits: message.limits,
          shutdown: message.shutdown,
        }
        if (message.notice !== undefined) snapshot.notice = message.notice
        if (page.length === message.total) {
          this.filling = null
          emit(snapshot, false)
          return
        }
        const tasks = new Array<TaskSnapshot>(message.total)
        for (let i = 0; i < page.length; i++) tasks[message.at + i] = page[i]!
        this.filling = { snapshot: { ...snapshot, tasks }, tasks, missing: message.total - page.length }
        emit(snapshot, true)
        return
      }
      case 'page': {
        if (message.s) this.extend(message.s)
        const page = this.decodeTasks(message.t)
        const filling = this.filling
        if (!filling) return
        for (let i = 0; i < page.length; i++) filling.tasks[message.at + i] = page[i]!
        filling.missing -= page.length
        if (filling.missing > 0) return
        this.filling = null
        emit(filling.snapshot, false)
        return
      }
      case 'batch': {
        if (message.s) this.extend(message.s)
        if (message.counters) this.counters = message.counters
        const batch: EventBatch = { type: 'batch', seq: message.seq, tasks: this.decodeTasks(message.t), counters: this.counters! }
        if (message.limits) batch.limits = message.limits
        if (message.shutdown !== undefined) batch.shutdown = message.shutdown
        if (message.notice !== undefined) batch.notice = message.notice
        if (message.stats) batch.stats = this.stats = { ...this.stats, ...message.stats } as Stats
        if (message.forgot) {
          const strings = this.strings
          batch.forgot = message.forgot.map((ref) => {
            const id = strings[ref]!
            this.tasks.delete(id)
            strings[ref] = '' // never named again; an empty slot keeps the list's numbering
            return id
          })
        }
        emit(batch, false)
        return
      }
      default:
        emit(message, false)
    }
  }

  private extend(strings: string[]): void {
    for (const s of strings) this.strings.push(s)
  }

  private decodeTasks(deltas: TaskDelta[]): TaskSnapshot[] {
    const strings = this.strings
    const out = new Array<TaskSnapshot>(deltas.length)
    let last: TaskSnapshot | undefined
    /** `last`'s attempts as sent (see attemptsForm). */
    let lastForm: unknown
    for (let i = 0; i < deltas.length; i++) {
      const [idRef, pairs, values, removed] = deltas[i]!
      const id = strings[idRef]!
      const held = this.tasks.get(id) as unknown as Record<string, unknown> | undefined
      // Its base (see WireEncoder.task). A fresh object per change: the mirror and the views rely on
      // snapshots being replaced, never mutated.
      const prev = (last ?? held) as unknown as Record<string, unknown> | undefined
      const t: Record<string, unknown> = prev ? copyTask(prev, id) : { id }
      if (held !== undefined && prev !== held) copyFixed(t, held)
      let attempts = last !== undefined ? lastForm : held !== undefined && held.attempts !== undefined ? attemptsForm(held) : undefined
      for (let j = 0; j < pairs.length; j += 2) t[strings[pairs[j]!]!] = strings[pairs[j + 1]!]
      for (let j = 0; j < values.length; j += 2) {
        const key = strings[values[j] as number]!
        if (key === 'attempts') attempts = values[j + 1]
        t[key] = values[j + 1]
      }
      if (removed) for (const k of removed) delete t[strings[k]!]
      if (t.attempts === undefined) attempts = undefined
      else if (attempts === OWN_ATTEMPT) t.attempts = ownAttempts(t as unknown as TaskSnapshot)
      lastForm = attempts
      const task = t as unknown as TaskSnapshot
      this.tasks.set(id, task)
      out[i] = task
      last = task
    }
    return out
  }
}
