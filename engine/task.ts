// A Task is one scheduled run of a spec, with the state machine of docs/ARCHITECTURE.md ("Task states").
import {
  currentAttempt,
  isCommandSpec,
  type Attempt,
  type CancelReason,
  type ErrorSlot,
  type ExecutorKind,
  type TaskError,
  type TaskReason,
  type Waiting,
  type TaskSnapshot,
  type TaskSpec,
  type TaskState,
} from '../common/types'
import type { Run } from './executors/executor'

/** Every legal move; anything else is a bug in the scheduler and throws. */
const NEXT: Record<TaskState, readonly TaskState[]> = {
  pending: ['running', 'cancelled'],
  // running → pending: a failed attempt with retries left goes back to the queue.
  running: ['done', 'failed', 'cancelling', 'cancelled', 'pending'],
  // A job that finishes despite the cancel request is done; a timed-out one fails (or retries).
  cancelling: ['cancelled', 'done', 'failed', 'pending'],
  done: [],
  failed: [],
  cancelled: [],
}

/** Why a task failed as `interrupted`: Taskloop stopped (or died) while it ran. */
export const INTERRUPTED_MESSAGE = 'Taskloop stopped while this task was running'

export interface BatchInfo {
  id: string
  failFast: boolean
}

type Stopping = CancelReason | 'timeout' | 'interrupted'

/** The fields of a task most tasks never set, apart: a task in memory stays small. */
class Rare {
  retryOf: string | null = null
  /** A cluster task's BullMQ queue (or `list:KEY`) and the node running it (Engine.submitWith). */
  queue: string | null = null
  node: string | null = null
  cancelRequestedAt: number | null = null
  ignoredCancel = false
  stopping: Stopping | null = null
  timers: NodeJS.Timeout[] = []
  waitingOn = 0
  /** Only a job that says what it is doing (ctx.progress with a message) sets it. */
  progressMessage: string | null = null
  /** A stored name other than its spec's (Task.name): none that Taskloop writes. */
  name: string | null = null
}

/** The empty list of every snapshot without `after` ids or attempts: one frozen array, not one each. */
const NONE: never[] = Object.freeze([]) as never[]

/** Shared by every task without earlier attempts; never mutated (a new array replaces it). */
const NO_ATTEMPTS: Attempt[] = []

/** The current attempt started (and is described by this task's fields). */
const IN_ATTEMPT = 1
/** Marked as changed for the next event batch (EventBatcher). */
const IN_EVENT_BATCH = 2

/**
 * A task's times are kept as milliseconds since this one: a small integer, which V8 holds in the
 * field itself (a Smi), where a time since 1970 (past 2^31) is a heap number of its own, three per
 * task kept in memory for as long as the task, each copied by every young-generation gc it lives
 * through. Any number still reads back exactly (ms are integers, far below 2^53).
 */
const TIME_BASE = Date.now()
/** `| 0` makes it an int32 to V8 (so a Smi) rather than a double that merely has an integer value. */
const offset = (ms: number): number => {
  const d = ms - TIME_BASE
  return (d | 0) === d ? d | 0 : d
}
const since = (ms: number | null): number | null => (ms === null ? null : offset(ms))
const at = (ms: number | null): number | null => (ms === null ? null : TIME_BASE + ms)

export class Task {
  readonly id: string
  readonly spec: TaskSpec
  readonly executor: ExecutorKind
  /** createdAt, startedAt and endedAt as TIME_BASE offsets. */
  private created = offset(Date.now())
  private started: number | null = null
  private ended: number | null = null
  /** FIFO order among equal priorities. */
  readonly seq: number
  readonly batch: BatchInfo | null

  state: TaskState = 'pending'
  reason: TaskReason | null = null
  /** Why it waits while pending; the scheduler sets it (Scheduler.hold). */
  waiting: Waiting | null = null
  attempt = 1
  progress: number | null = null
  worker: string | null = null
  result: unknown = null
  error: TaskError | null = null
  /**
   * Attempts that ended before the current one (retried, requeued) or were restored from the store.
   * The current attempt is not kept as a record: it is this task's own fields (see `attempts`), so a
   * task that runs once holds no attempt objects at all.
   */
  private earlier: Attempt[] = NO_ATTEMPTS
  /** IN_ATTEMPT and IN_EVENT_BATCH: two flags in one field, so a task kept in memory stays small. */
  private flags = 0

  /** The live run while running or cancelling. */
  run: Run | null = null
  /** What few tasks need (a retry's origin, a cancel, timers, dependencies): made on first use. */
  private rare: Rare | null = null

  constructor(id: string, seq: number, spec: TaskSpec, executor: ExecutorKind, batch: BatchInfo | null) {
    this.id = id
    this.seq = seq
    this.spec = spec
    this.executor = executor
    this.batch = batch
  }

  /** Rebuilds a stored task as it was; the engine then decides what its state means now. */
  static restore(snap: TaskSnapshot, seq: number, batch: BatchInfo | null): Task {
    const t = new Task(snap.id, seq, snap.spec, snap.executor, batch)
    Object.assign(t, {
      createdAt: snap.createdAt,
      name: snap.name,
      state: snap.state,
      reason: snap.reason,
      attempt: snap.attempt,
      progress: snap.progress,
      progressMessage: snap.progressMessage,
      worker: snap.worker,
      startedAt: snap.startedAt,
      endedAt: snap.endedAt,
      cancelRequestedAt: snap.cancelRequestedAt,
      ignoredCancel: snap.ignoredCancel,
      result: snap.result,
      error: snap.error,
      earlier: snap.attempts ?? NO_ATTEMPTS,
      retryOf: snap.retryOf ?? null,
      queue: snap.queue ?? null,
      node: snap.node ?? null,
    })
    return t
  }

  /** Its spec's name, or what its spec runs: read from the spec, not a field of every task. */
  get name(): string {
    return this.rare?.name ?? this.spec.name ?? defaultName(this.spec)
  }
  /** Set only when a stored task is restored (Task.restore): kept only if its spec would not give it. */
  private set name(name: string) {
    if (name !== (this.spec.name ?? defaultName(this.spec))) this.more.name = name
  }

  get progressMessage(): string | null {
    return this.rare?.progressMessage ?? null
  }
  set progressMessage(message: string | null) {
    if (message !== null || this.rare) this.more.progressMessage = message
  }

  get createdAt(): number {
    return TIME_BASE + this.created
  }
  /** Set only when a stored task is restored (Task.restore). */
  private set createdAt(ms: number) {
    this.created = offset(ms)
  }

  get startedAt(): number | null {
    return at(this.started)
  }
  set startedAt(ms: number | null) {
    this.started = since(ms)
  }

  get endedAt(): number | null {
    return at(this.ended)
  }
  set endedAt(ms: number | null) {
    this.ended = since(ms)
  }

  /** The snapshot's fields that come from the spec or the batch: a Task reads as its snapshot (the store writes a row from either). */
  get group(): string | null {
    return this.spec.group ?? null
  }
  get batchId(): string | null {
    return this.batch === null ? null : this.batch.id
  }
  get after(): string[] {
    return this.spec.after ?? NONE
  }
  get parent(): string | undefined {
    return this.spec.parent || undefined
  }

  get priority(): number {
    return this.spec.priority ?? 0
  }

  /** The attempt it started at: 1, or one past the task it retries (the retry budget counts from here). */
  get firstAttempt(): number {
    return this.earlier.length > 0 ? this.earlier[0]!.attempt : this.attempt
  }

  private get inAttempt(): boolean {
    return (this.flags & IN_ATTEMPT) !== 0
  }
  private set inAttempt(on: boolean) {
    this.flags = on ? this.flags | IN_ATTEMPT : this.flags & ~IN_ATTEMPT
  }

  /** Marked as changed for the next event batch: the batcher keeps a list, not a set (EventBatcher). */
  get inEventBatch(): boolean {
    return (this.flags & IN_EVENT_BATCH) !== 0
  }
  set inEventBatch(on: boolean) {
    this.flags = on ? this.flags | IN_EVENT_BATCH : this.flags & ~IN_EVENT_BATCH
  }

  private get more(): Rare {
    return (this.rare ??= new Rare())
  }

  /** The task this one was made to retry or run again (Engine.retry), or null. */
  get retryOf(): string | null {
    return this.rare?.retryOf ?? null
  }
  set retryOf(id: string | null) {
    if (id !== null || this.rare) this.more.retryOf = id
  }

  /** A cluster task's BullMQ queue (or `list:KEY`); null for a local task. */
  get queue(): string | null {
    return this.rare?.queue ?? null
  }
  set queue(name: string | null) {
    if (name !== null || this.rare) this.more.queue = name
  }

  /** The node running a cluster task; null for a local task. */
  get node(): string | null {
    return this.rare?.node ?? null
  }
  set node(id: string | null) {
    if (id !== null || this.rare) this.more.node = id
  }

  get cancelRequestedAt(): number | null {
    return this.rare?.cancelRequestedAt ?? null
  }
  set cancelRequestedAt(at: number | null) {
    if (at !== null || this.rare) this.more.cancelRequestedAt = at
  }

  get ignoredCancel(): boolean {
    return this.rare?.ignoredCancel ?? false
  }
  set ignoredCancel(ignored: boolean) {
    if (ignored || this.rare) this.more.ignoredCancel = ignored
  }

  /** Why the current run is being stopped: a cancel reason, or a timeout. */
  get stopping(): Stopping | null {
    return this.rare?.stopping ?? null
  }
  set stopping(why: Stopping | null) {
    if (why !== null || this.rare) this.more.stopping = why
  }

  /** Unfinished tasks named in `after`. */
  get waitingOn(): number {
    return this.rare?.waitingOn ?? 0
  }
  set waitingOn(n: number) {
    if (n !== 0 || this.rare) this.more.waitingOn = n
  }

  get final(): boolean {
    return this.state === 'done' || this.state === 'failed' || this.state === 'cancelled'
  }

  /**
   * Moves to `next`; returns the previous state (for counters). A run that goes back to pending
   * (a retry, a requeue) ends its attempt: the next run is attempt + 1.
   */
  to(next: TaskState, reason: TaskReason | null = null): TaskState {
    const prev = this.state
    if (!NEXT[prev].includes(next)) throw new Error(`task ${this.id}: illegal transition ${prev} → ${next}`)
    const now = Date.now()
    if (next === 'pending' && this.inAttempt) {
      // The record of the attempt that ended; its start is this task's startedAt.
      const ended: Attempt = {
        attempt: this.attempt,
        worker: this.worker,
        startedAt: this.startedAt!,
        endedAt: now,
        outcome: 'pending',
        reason,
        error: this.error?.message ?? null,
      }
      this.earlier = [...this.earlier, Object.freeze(ended)]
      this.inAttempt = false
      this.attempt++
    }
    this.state = next
    this.reason = reason
    if (next !== 'pending') this.waiting = null
    if (next === 'running') {
      this.started = offset(now)
      this.ended = null
      this.inAttempt = true
    } else if (next === 'done' || next === 'failed' || next === 'cancelled') {
      this.ended = offset(now)
    }
    if (next !== 'running' && next !== 'cancelling') {
      this.clearTimers()
      this.run = null
      this.stopping = null
    }
    return prev
  }

  /** Every attempt, oldest first: the earlier ones (frozen, shared), then the current one (open while it runs). A new array. */
  get attempts(): Attempt[] {
    if (!this.inAttempt) return this.earlier.slice()
    const current = currentAttempt(this)
    return this.earlier.length === 0 ? [current] : [...this.earlier, current]
  }

  /** A timer owned by this task (timeout, grace, retry delay): cleared on every transition out of running. */
  addTimer(timer: NodeJS.Timeout): void {
    this.more.timers.push(timer)
  }

  clearTimers(): void {
    const timers = this.rare?.timers
    if (!timers || timers.length === 0) return
    for (const t of timers) clearTimeout(t)
    timers.length = 0
  }

  /** What clients see. Built field by field in one order: every snapshot shares one shape. */
  snapshot(): TaskSnapshot {
    const spec = this.spec
    const s: TaskSnapshot = {
      id: this.id,
      name: this.name,
      executor: this.executor,
      state: this.state,
      reason: this.reason,
      waiting: this.waiting,
      attempt: this.attempt,
      progress: this.progress,
      progressMessage: this.progressMessage,
      worker: this.worker,
      group: spec.group ?? null,
      batchId: this.batch === null ? null : this.batch.id,
      after: spec.after ?? NONE,
      createdAt: this.createdAt,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      cancelRequestedAt: this.cancelRequestedAt,
      ignoredCancel: this.ignoredCancel,
      result: this.result,
      error: this.error,
      attempts: this.inAttempt || this.earlier.length > 0 ? this.attempts : NONE,
      spec,
    }
    if (spec.parent) s.parent = spec.parent
    if (this.retryOf) s.retryOf = this.retryOf
    if (this.queue !== null) {
      s.queue = this.queue
      s.node = this.node
    }
    return s
  }
}

/**
 * What a task contributes where results are gathered: its result when done, an ErrorSlot when it
 * failed or was cancelled (asyncio.gather's return_exceptions), null while unfinished.
 */
export function gathered(task: Task): unknown {
  if (task.state === 'done') return task.result
  if (task.state === 'failed') {
    const e = task.error
    return slot(e?.name ?? 'Error', e?.message ?? `failed (${task.reason})`, e?.code ?? null)
  }
  if (task.state === 'cancelled') return slot('CancelledError', `cancelled (${task.reason})`, task.reason)
  return null
}

const slot = (name: string, message: string, code: string | number | null): ErrorSlot => ({ error: { name, message, code } })

function defaultName(spec: TaskSpec): string {
  if (!isCommandSpec(spec)) return spec.job
  return (spec.command ?? spec.argv?.join(' ') ?? 'command').slice(0, 200)
}
