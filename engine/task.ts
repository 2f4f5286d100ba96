// A Task is one scheduled run of a spec, with the state machine of docs/ARCHITECTURE.md ("Task states").
import {
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

export class Task {
  readonly id: string
  readonly name: string
  readonly spec: TaskSpec
  readonly executor: ExecutorKind
  readonly priority: number
  readonly createdAt = Date.now()
  /** FIFO order among equal priorities. */
  readonly seq: number
  readonly batch: BatchInfo | null

  state: TaskState = 'pending'
  reason: TaskReason | null = null
  /** Why it waits while pending; the scheduler sets it (Scheduler.hold). */
  waiting: Waiting | null = null
  attempt = 1
  /** The attempt it started at: 1, or one past the task it retries (the retry budget counts from here). */
  firstAttempt = 1
  /** The task this one was made to retry or run again (Engine.retry), or null. */
  retryOf: string | null = null
  /** A cluster task's BullMQ queue (or `list:KEY`) and the node running it (Engine.submitWith); null for a local task. */
  queue: string | null = null
  node: string | null = null
  progress: number | null = null
  progressMessage: string | null = null
  worker: string | null = null
  startedAt: number | null = null
  endedAt: number | null = null
  cancelRequestedAt: number | null = null
  ignoredCancel = false
  result: unknown = null
  error: TaskError | null = null
  attempts: Attempt[] = []

  /** The live run while running or cancelling. */
  run: Run | null = null
  /** Why the current run is being stopped: a cancel reason, or a timeout. */
  stopping: CancelReason | 'timeout' | 'interrupted' | null = null
  /** Timers owned by this task (timeout, grace, retry delay); cleared on every transition out of running. */
  timers: NodeJS.Timeout[] = []
  /** Unfinished tasks named in `after`. */
  waitingOn = 0

  constructor(id: string, seq: number, spec: TaskSpec, executor: ExecutorKind, batch: BatchInfo | null) {
    this.id = id
    this.seq = seq
    this.spec = spec
    this.executor = executor
    this.batch = batch
    this.priority = spec.priority ?? 0
    this.name = spec.name ?? defaultName(spec)
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
      attempts: snap.attempts ?? [],
      retryOf: snap.retryOf ?? null,
      queue: snap.queue ?? null,
      node: snap.node ?? null,
      firstAttempt: snap.attempts?.[0]?.attempt ?? snap.attempt,
    })
    return t
  }

  get final(): boolean {
    return this.state === 'done' || this.state === 'failed' || this.state === 'cancelled'
  }

  /** Moves to `next`; returns the previous state (for counters). */
  to(next: TaskState, reason: TaskReason | null = null): TaskState {
    const prev = this.state
    if (!NEXT[prev].includes(next)) throw new Error(`task ${this.id}: illegal transition ${prev} → ${next}`)
    this.state = next
    this.reason = reason
    if (next !== 'pending') this.waiting = null
    const now = Date.now()
    if (next === 'running') {
      this.startedAt = now
      this.endedAt = null
      this.attempts.push({ attempt: this.attempt, worker: null, startedAt: now, endedAt: null, outcome: null, reason: null, error: null })
    } else if (next === 'done' || next === 'failed' || next === 'cancelled') {
      this.endedAt = now
    }
    // An attempt ends when the run settles: finished, or back to pending for a retry.
    const current = this.attempts.at(-1)
    if (current && current.endedAt === null && (prev === 'running' || prev === 'cancelling') && next !== 'cancelling') {
      current.endedAt = now
      current.outcome = next
      current.reason = reason
      current.worker = this.worker
      current.error = next === 'failed' || next === 'pending' ? (this.error?.message ?? null) : null
    }
    if (next !== 'running' && next !== 'cancelling') {
      this.clearTimers()
      this.run = null
      this.stopping = null
    }
    return prev
  }

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.length = 0
  }

  snapshot(): TaskSnapshot {
    return {
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
      group: this.spec.group ?? null,
      batchId: this.batch?.id ?? null,
      after: this.spec.after ?? [],
      createdAt: this.createdAt,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      cancelRequestedAt: this.cancelRequestedAt,
      ignoredCancel: this.ignoredCancel,
      result: this.result,
      error: this.error,
      attempts: this.attempts.map((a) => ({ ...a, worker: a.worker ?? (a.endedAt === null ? this.worker : null) })),
      spec: this.spec,
      ...(this.spec.parent ? { parent: this.spec.parent } : {}),
      ...(this.retryOf ? { retryOf: this.retryOf } : {}),
      ...(this.queue !== null ? { queue: this.queue, node: this.node } : {}),
    }
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
