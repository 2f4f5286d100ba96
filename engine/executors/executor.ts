// What the scheduler needs from a place that runs tasks (Python's Executor: run_in_executor).
// The scheduler owns states, timeouts, grace timers and retries; an executor only starts,
// asks to stop, and forces a stop.
import type { ExecutorKind, LogLine, TaskSpec, WorkerStat } from '../../common/types'

export interface RunRequest {
  taskId: string
  attempt: number
  spec: TaskSpec
  /** Results (or error slots) of the tasks named in `after`, in that order. */
  inputs: unknown[]
}

export interface RunHooks {
  /**
   * The job has really started, on this worker ("loop", "thread 3", "pid 1234"): the scheduler
   * moves the task to running now. Called once; a run that ends before it starts (cancelled while
   * sent ahead, a command that could not be spawned) never calls it.
   */
  worker(label: string): void
  /** Clamped at the source (common/progress.ts): a fraction in 0..1, or null. */
  progress(fraction: number | null, message?: string): void
  log(line: string, stream?: LogLine['stream']): void
}

export interface Run {
  /** Resolves with the job's result, normalised where it ran (result.ts); rejects with a TaskFailure. */
  readonly result: Promise<unknown>
  /**
   * Cooperative request: abort the job's AbortSignal, or SIGTERM a command's process group.
   * A run not yet started ends without its job being called (rejecting with a TaskFailure).
   */
  cancel(): void
  /**
   * Force the stop: terminate the worker (and replace it), SIGTERM then SIGKILL a pool process,
   * SIGKILL a command's group. Returns false when the executor cannot force (loop jobs).
   * After a successful kill, `result` settles soon (rejecting with reason "crashed" or similar).
   */
  kill(): boolean
  /**
   * Delivers now what the executor holds of the run's reports (a pool thread holds a few ms of
   * them, see report-ring.ts): a run that already started is heard started (hooks.worker) before
   * the scheduler takes it back or cancels it as not started. Absent: nothing is ever held.
   */
  heard?(): void
  /**
   * Takes back a run not started, only if it surely never starts: true then, and the run has
   * ended (rejecting as cancelled before it started). False when its worker has taken it: it goes
   * on there, and its start is heard as any other. A promise when the worker must be asked: it
   * tells which, before the run's end is heard; asked again meanwhile, false (that answer stands).
   * Absent: never taken back.
   */
  withdraw?(): boolean | Promise<boolean>
}

export type FailureKind = 'error' | 'crashed' | 'exit-code'

/** What a thrown error keeps besides its message: its name and its own `code`. */
export interface ErrorIdentity {
  errorName?: string
  code?: string | number
}

/** A run that did not produce a result, with a reason the user can read. */
export class TaskFailure extends Error {
  readonly kind: FailureKind
  /** The name of the error the job threw ("TypeError"); absent for failures Taskloop made. */
  readonly errorName: string | undefined
  readonly code: string | number | undefined
  constructor(kind: FailureKind, message: string, stack?: string, identity: ErrorIdentity = {}) {
    super(message)
    this.name = 'TaskFailure'
    this.kind = kind
    this.errorName = identity.errorName
    this.code = identity.code
    if (stack !== undefined) this.stack = stack
  }
  static from(e: unknown, kind: FailureKind = 'error'): TaskFailure {
    if (e instanceof TaskFailure) return e
    if (e instanceof Error) return new TaskFailure(kind, e.message, e.stack, identityOf(e))
    return new TaskFailure(kind, String(e))
  }
}

/** A thrown error's name and custom `code`, when they are plain (a string name, a string or finite number code). */
function identityOf(e: Error): ErrorIdentity {
  const out: ErrorIdentity = {}
  if (typeof e.name === 'string' && e.name) out.errorName = e.name.slice(0, 200)
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string') out.code = code.slice(0, 200)
  else if (typeof code === 'number' && Number.isFinite(code)) out.code = code
  return out
}

/** A run that ended before it began (bad spec for this executor, closed pool, a throw at start). */
export function failedRun(reason: unknown): Run {
  return { result: Promise.reject(TaskFailure.from(reason)), cancel() {}, kill: () => false }
}

export interface Executor {
  readonly kind: ExecutorKind
  /**
   * Start now, or (pools) as soon as a worker is free. The scheduler hands over at most its limit
   * plus `prefetch` runs per limit unit; at most `limit` of them run at once.
   */
  start(request: RunRequest, hooks: RunHooks): Run
  /** Runs per worker taken ahead of the one it runs, so the next starts without a round trip (pools). */
  readonly prefetch?: number
  /** The pool follows the scheduler's limit (threads, processes); a no-op where nothing is pooled. */
  resize(size: number): void
  /** Live workers (threads or processes) in the pool. */
  workers(): number
  /** Per-worker busy time and utilization (pools only). */
  workerStats?(): WorkerStat[]
  /** Start the pool's workers now and resolve when they can take runs (pools only). */
  warm?(): Promise<void>
  /** Force-stop everything and release threads, processes and groups. Idempotent. */
  close(): Promise<void>
}
