// The contract every layer speaks: engine, server, preload and renderer.
// Plain types only; validation of outside data lives in ./schema.ts.

export const TASK_STATES = ['pending', 'running', 'cancelling', 'done', 'failed', 'cancelled'] as const
export type TaskState = (typeof TASK_STATES)[number]

export const FINAL_STATES: readonly TaskState[] = ['done', 'failed', 'cancelled']
export const isFinal = (s: TaskState): boolean => s === 'done' || s === 'failed' || s === 'cancelled'

export type FailReason = 'error' | 'timeout' | 'exit-code' | 'crashed' | 'interrupted'
/**
 * fail-fast: its batch settled on a failure (returnWhen "firstError"); batch-settled: its batch
 * settled otherwise (returnWhen "first", or the batch's timeoutMs passed) and cancels the rest.
 * parent: the task that submitted it (ctx.submit) was cancelled, and it was not `detached`.
 */
export type CancelReason = 'user' | 'shutdown' | 'fail-fast' | 'batch-settled' | 'dependency' | 'parent'
export type TaskReason = FailReason | CancelReason

/**
 * Why a pending task has not started: its executor is at its limit (or it sits in a pool's queue),
 * its batch has no free slot, its group is at its limit, it waits for an `after` task, intake is
 * paused, or it waits out a retry delay.
 */
export const WAITING = ['executor-limit', 'batch-slot', 'group-limit', 'dependency', 'paused', 'retry-backoff'] as const
export type Waiting = (typeof WAITING)[number]

/** Where a job function runs. */
export const JOB_EXECUTORS = ['loop', 'thread', 'process'] as const
export type JobExecutor = (typeof JOB_EXECUTORS)[number]
/** Every kind of executor, commands included. */
export const EXECUTORS = ['loop', 'thread', 'process', 'command'] as const
export type ExecutorKind = (typeof EXECUTORS)[number]

export const BUILTIN_JOBS = ['sleep', 'http', 'spin', 'primes', 'hash', 'ticker', 'fail', 'crash', 'produce', 'consume', 'counter', 'fanout', 'sleep-seconds'] as const
export type BuiltinJob = (typeof BUILTIN_JOBS)[number]


/**
 * Which outcome of its `after` tasks a task runs on, once every one is final (add_done_callback):
 * "done" (default) all done, else it is cancelled (reason dependency) as soon as one is not;
 * "failed" at least one failed (else cancelled, reason dependency); "always" whatever happened.
 */
export const AFTER_WHEN = ['done', 'failed', 'always'] as const
export type AfterWhen = (typeof AFTER_WHEN)[number]

interface CommonSpec {
  name?: string
  timeoutMs?: number
  retries?: number
  retryDelayMs?: number
  priority?: number
  /** Task ids, or inside a batch "#N" for the batch's N-th task (0-based). */
  /** Task ids this one waits for. A submitted spec may also say `{ ids, when }` (when = afterWhen). */
  after?: string[]
  /** Which outcome of the `after` tasks this one runs on (default "done"). */
  afterWhen?: AfterWhen
  group?: string
  /** Cooperative-cancel grace before the executor forces the stop. */
  killGraceMs?: number
  /** After the app died while this task ran: mark it failed (default) or queue it again. */
  onInterrupt?: 'fail' | 'requeue'
  /** Submitted from a job (ctx.submit): cancelling that job's task leaves this one running. */
  detached?: boolean
  /** Set by the engine only: the task whose job submitted this one (ctx.submit). */
  parent?: string
  /**
   * A cluster node (`taskloop serve --redis`) sends the task to this BullMQ queue instead of its own
   * engine; any node serving the queue runs it. `retries`, `retryDelayMs`, `priority` and `delayMs`
   * become the BullMQ job's options.
   */
  queue?: string
  /** With `queue`: BullMQ waits this long before the job may start (a delayed job). */
  delayMs?: number
}

export interface JobSpec extends CommonSpec {
  job: string
  params?: Record<string, unknown>
  executor?: JobExecutor
}

export interface CommandSpec extends CommonSpec {
  command?: string
  argv?: string[]
  cwd?: string
  env?: Record<string, string>
}

export type TaskSpec = JobSpec | CommandSpec

export interface BatchSpec {
  batch: {
    name?: string
    concurrency?: number
    /** Same as returnWhen "firstError" (kept for existing specs). */
    failFast?: boolean
    /** When the batch is settled (default "all"); the rest are then cancelled, or left with onSettled "leave". */
    returnWhen?: ReturnWhen
    /** The batch settles after this long (from submit) even if returnWhen is not met yet. */
    timeoutMs?: number
    /** What happens to unfinished tasks when the batch settles: cancelled (default) or left running. */
    onSettled?: 'cancel' | 'leave'
    tasks: TaskSpec[]
  }
}

export type SubmitSpec = TaskSpec | BatchSpec

export const isCommandSpec = (s: TaskSpec): s is CommandSpec => !('job' in s)

export interface TaskError {
  message: string
  stack?: string
  /** The thrown error's name ("TypeError", "HttpError"), when it was an Error. */
  name?: string
  /** The thrown error's own `code` (a string or a number), kept as it was. */
  code?: string | number
}

/**
 * What a task that did not finish done contributes where results are gathered (batch results,
 * the `ctx.inputs` of an "always"/"failed" follower): asyncio.gather's return_exceptions.
 * A cancelled task's name is "CancelledError" and its code the cancel reason.
 */
export interface ErrorSlot {
  error: { name: string; message: string; code: string | number | null }
}

/** One run of a task: a retry adds one. */
export interface Attempt {
  attempt: number
  worker: string | null
  startedAt: number
  endedAt: number | null
  /** How the attempt ended: the state it led to (pending = retried) and why. */
  outcome: TaskState | null
  reason: TaskReason | null
  error: string | null
}

export interface TaskSnapshot {
  id: string
  name: string
  executor: ExecutorKind
  state: TaskState
  reason: TaskReason | null
  /** Why it waits, while pending (null once it starts, and for a task not held back). */
  waiting?: Waiting | null
  attempt: number
  /** 0..1, or null when the job reports none. */
  progress: number | null
  progressMessage: string | null
  /** "loop", "thread 3", "pid 1234". */
  worker: string | null
  group: string | null
  batchId: string | null
  after: string[]
  createdAt: number
  startedAt: number | null
  endedAt: number | null
  /** When a cancel was requested, for cancel latency. */
  cancelRequestedAt: number | null
  /** A loop job that did not honour its AbortSignal within the grace. */
  ignoredCancel: boolean
  result: unknown
  error: TaskError | null
  /** Every attempt so far, oldest first. */
  attempts: Attempt[]
  spec: TaskSpec
  /** The task whose job submitted this one (ctx.submit), or null. */
  parent?: string | null
  /** The task this one retries or runs again (the Retry operation); its attempts continue that task's numbers. */
  retryOf?: string | null
  /** Cluster tasks only (a spec with `queue`, or an item of a Redis list): the BullMQ queue or list it came through. */
  queue?: string | null
  /** Cluster tasks only: the id of the node that runs (or last ran) it; null while it waits in the queue. */
  node?: string | null
}

/**
 * The attempt in progress or last ended, as the task's own fields say: what the engine lists last
 * in `attempts` (engine/task.ts), and what the wires rebuild from those fields (common/wire.ts).
 */
export function currentAttempt(t: Pick<TaskSnapshot, 'attempt' | 'worker' | 'startedAt' | 'endedAt' | 'state' | 'reason' | 'error'>): Attempt {
  const final = isFinal(t.state)
  return {
    attempt: t.attempt,
    worker: t.worker,
    startedAt: t.startedAt!,
    endedAt: final ? t.endedAt : null,
    outcome: final ? t.state : null,
    reason: final ? t.reason : null,
    error: t.state === 'failed' ? (t.error?.message ?? null) : null,
  }
}

/**
 * The fields of a TaskSnapshot at their defaults: a task not started, with nothing set. Its arrays
 * are frozen and shared (a snapshot's arrays are never changed in place).
 */
export const SNAPSHOT_DEFAULTS: Readonly<
  Pick<
    TaskSnapshot,
    | 'reason' | 'waiting' | 'progress' | 'progressMessage' | 'worker' | 'group' | 'batchId' | 'after'
    | 'startedAt' | 'endedAt' | 'cancelRequestedAt' | 'ignoredCancel' | 'result' | 'error' | 'attempts'
  >
> = Object.freeze({
  reason: null,
  waiting: null,
  progress: null,
  progressMessage: null,
  worker: null,
  group: null,
  batchId: null,
  after: Object.freeze([]) as unknown as string[],
  startedAt: null,
  endedAt: null,
  cancelRequestedAt: null,
  ignoredCancel: false,
  result: null,
  error: null,
  attempts: Object.freeze([]) as unknown as Attempt[],
})

export type Counters = Record<TaskState, number>

export const emptyCounters = (): Counters => ({
  pending: 0,
  running: 0,
  cancelling: 0,
  done: 0,
  failed: 0,
  cancelled: 0,
})

export interface DrainingTask {
  id: string
  name: string
  executor: ExecutorKind
  state: TaskState
}

/**
 * What a stop does with pending tasks: `keep` leaves them pending for the next start (running ones
 * follow their spec's onInterrupt), `cancel` cancels everything with reason "shutdown".
 */
export type OnStop = 'keep' | 'cancel'
export const ON_STOP = ['keep', 'cancel'] as const satisfies readonly OnStop[]

/** Cancel all: what this node runs and holds (default), or with `cluster` every unfinished cluster task too. */
export interface CancelAllOptions {
  cluster?: boolean
}

/** The UI's Quit: `pending` chooses what happens to pending tasks (default: the host's choice, normally cancel). */
export interface QuitOptions {
  pending?: OnStop
}

export interface ShutdownStatus {
  phase: 'draining' | 'forcing' | 'done'
  /** Pending tasks are kept for the next start, or cancelled. */
  pending: OnStop
  startedAt: number
  /** Epoch ms when running work is forced. */
  deadline: number
  draining: DrainingTask[]
  /** Tasks that had to be forced (terminated / SIGKILLed). */
  forced: string[]
}

export interface Snapshot {
  type: 'snapshot'
  seq: number
  tasks: TaskSnapshot[]
  counters: Counters
  limits: Limits
  shutdown: ShutdownStatus | null
  /** Something the user must know about what happened (e.g. the engine thread was restarted). */
  notice?: string
}

export interface EventBatch {
  type: 'batch'
  seq: number
  /** Only the latest snapshot of each task that changed since the previous batch. */
  tasks: TaskSnapshot[]
  counters: Counters
  limits?: Limits
  shutdown?: ShutdownStatus | null
  /** Metrics, at most once a second while someone listens. */
  stats?: Stats
  /**
   * From the engine's supervisor between batches (the engine is blocked, or answers again): such
   * a batch repeats the last seq and carries no task.
   */
  notice?: string
  /**
   * Finished tasks the engine no longer keeps live (past keepInMemory, or dropped by the retention
   * policy), listed after the batch's tasks are applied: a mirror drops them (they stay in the
   * store's history) instead of taking a fresh snapshot to learn which went.
   */
  forgot?: string[]
}

export type EngineEvent = Snapshot | EventBatch

export type Limits = Record<ExecutorKind, number>

export interface PoolStats {
  limit: number
  running: number
  pending: number
  workers: number
}

/** One pool worker's load: busy time since it started, runs finished, busy share of the last 10 s. */
export interface WorkerStat {
  /** "thread 3", "pid 1234". */
  label: string
  executor: ExecutorKind
  busyMs: number
  runs: number
  /** 0..1 */
  utilization: number
}

export interface Percentiles {
  p50: number
  p99: number
  max: number
  /** Samples behind the figures (the most recent ones). */
  count: number
}

export interface Stats {
  counters: Counters
  pools: Record<ExecutorKind, PoolStats>
  /** Every pool worker (thread and process pools), with its busy time and utilization. */
  workers: WorkerStat[]
  /** Event-loop delay of the engine thread, ms. */
  loopLag: { p50: number; p99: number; max: number }
  /** Event-loop delay of the host thread (Electron main / server), ms; null when the engine runs in-process. */
  hostLag: { p50: number; p99: number; max: number } | null
  /** Recent finished tasks: run time (start → end), wait time (created → start), cancel latency (request → settled), ms. */
  runMs: Percentiles
  waitMs: Percentiles
  cancelMs: Percentiles
  /** Intake paused: running tasks go on, nothing new starts. */
  paused: boolean
  /** Concurrency limits per group (groups without one are not listed). */
  groupLimits: Record<string, number>
  /** Finished tasks per second over the last 10 s. */
  throughput: number
  /** The task store (SQLite); null when the engine keeps tasks in memory only. */
  store: { file: string; error: string | null } | null
  uptimeMs: number
  shuttingDown: boolean
  /** Named queues between running jobs (ctx.queue). */
  queues: QueueStat[]
  /** Named locks between running jobs (ctx.lock). */
  locks: LockStat[]
  /** Time per phase, only when the engine runs with TASKLOOP_COSTS=1 (engine/costs.ts; the bench reads it). */
  costs?: { engine: ThreadCosts; host?: ThreadCosts }
}

export interface PhaseCost {
  ms: number
  calls: number
}

/** One thread's phase sums since it started, its CPU time and its wake-ups (null where the OS does not say). */
export interface ThreadCosts {
  cpuMs: number | null
  /** Times the thread slept waiting for work (voluntary context switches); absent from an older engine. */
  wakeups?: number | null
  phases: Record<string, PhaseCost>
}

export interface QueueStat {
  name: string
  size: number
  /** 0: unbounded. */
  maxSize: number
  /** Jobs waiting in `get` for an item; jobs waiting in `put` for room. */
  getters: number
  putters: number
  /** Items put and not yet marked with taskDone (what `join` waits for). */
  unfinished: number
}

export interface LockStat {
  name: string
  /** Task id holding it, or null when free. */
  holder: string | null
  /** Task ids waiting for it, first served first. */
  waiters: string[]
}

/**
 * When a wait is over (asyncio.wait's return_when): every task final ("all", ALL_COMPLETED), the
 * first one done or failed ("first", FIRST_COMPLETED; a cancelled one does not count), or the
 * first one failed ("firstError", FIRST_EXCEPTION; with no failure, when all are final). Batches
 * and `ctx.wait` use the same words.
 */
export const RETURN_WHEN = ['all', 'first', 'firstError'] as const
export type ReturnWhen = (typeof RETURN_WHEN)[number]

/**
 * A running job's request to the engine (its ctx's queue, lock, submit and wait calls); the
 * engine knows which task asks from the run it came through. `maxSize` opens a queue bounded.
 */
export type JobCall =
  | { op: 'queue.put'; name: string; maxSize?: number; item: unknown }
  | { op: 'queue.get' | 'queue.taskDone' | 'queue.join' | 'queue.size'; name: string; maxSize?: number }
  | { op: 'lock.acquire' | 'lock.release'; name: string }
  | { op: 'submit'; spec: SubmitSpec }
  | { op: 'wait'; ids: string[]; returnWhen?: ReturnWhen; timeoutMs?: number }

/** What ctx.wait resolves with: the tasks final by then, and those not (asyncio.wait's done and pending sets). */
export interface WaitResult {
  done: TaskSnapshot[]
  pending: TaskSnapshot[]
}

export interface LogLine {
  seq: number
  time: number
  stream: 'stdout' | 'stderr' | 'log'
  line: string
}

export interface BatchSnapshot {
  id: string
  name: string
  total: number
  concurrency: number
  /** returnWhen is "firstError". */
  failFast: boolean
  returnWhen: ReturnWhen
  timeoutMs: number | null
  onSettled: 'cancel' | 'leave'
  /** What settled the batch (its returnWhen, "all" when every task finished first, or "timeout"); null until then. */
  settledBy: ReturnWhen | 'timeout' | null
  counters: Counters
  /** finished / total */
  progress: number
  /** running until every member is final; then done (all done), failed (any failed) or cancelled. */
  state: 'running' | 'done' | 'failed' | 'cancelled'
  taskIds: string[]
  /** Finished members' ids in the order they finished (as_completed). */
  completed: string[]
  /**
   * gather: each member's result in submission order; an ErrorSlot where it failed or was
   * cancelled (return_exceptions); null while it has not finished.
   */
  results: unknown[]
}

export interface TaskDetail extends TaskSnapshot {
  log: LogLine[]
  /** The task's full log file (head and tail kept when capped); null without a data folder. */
  logFile: string | null
  /** Locks this task holds now (ctx.lock). */
  locks?: string[]
  /** Tasks this task's job submitted (ctx.submit). */
  children?: string[]
}

/** A blocking read (Future.result(timeout)): answer when the task (batch) is final, or after waitMs at most. */
export interface WaitOptions {
  /** 0..60000; 0 or absent answers at once. */
  waitMs?: number
}

export interface ListQuery {
  state?: TaskState
  limit?: number
}

/** A page of history, newest first. */
export interface HistoryQuery {
  state?: TaskState
  /** A task id (the last of the previous page): this page holds the tasks submitted before it. */
  before?: string
  /** Default 100, at most 1000. */
  limit?: number
}

/**
 * overloaded: the pending queue is at its bound (backpressure), try again later.
 * engine-blocked: a job keeps the engine's event loop busy; the message names it (HTTP 503).
 * unavailable: the task store is gone (its folder deleted, its lock lost): nothing new can be stored.
 */
export type ErrorCode = 'invalid' | 'not-found' | 'conflict' | 'shutting-down' | 'engine-blocked' | 'overloaded' | 'unavailable' | 'internal'

/** A refusal the user can read; crosses IPC, HTTP and thread boundaries as `{code, message, path}`. */
export class TaskloopError extends Error {
  readonly code: ErrorCode
  readonly path: string | undefined
  constructor(code: ErrorCode, message: string, path?: string) {
    super(message)
    this.name = 'TaskloopError'
    this.code = code
    this.path = path
  }
  toJSON(): { code: ErrorCode; error: string; path?: string } {
    return { code: this.code, error: this.message, ...(this.path !== undefined ? { path: this.path } : {}) }
  }
  static from(x: unknown): TaskloopError {
    if (x instanceof TaskloopError) return x
    if (x && typeof x === 'object' && 'code' in x && ('error' in x || 'message' in x)) {
      const o = x as { code: ErrorCode; error?: string; message?: string; path?: string }
      return new TaskloopError(o.code, String(o.error ?? o.message), o.path)
    }
    return new TaskloopError('internal', x instanceof Error ? x.message : String(x))
  }
}

/** One Taskloop node of a cluster, as its heartbeat in Redis describes it. */
export interface ClusterNode {
  id: string
  host: string
  pid: number
  /** The BullMQ queues it serves (and `list:KEY` for a Redis list it consumes). */
  queues: string[]
  /** Executors' concurrency limits and how many tasks each runs now. */
  limits: Limits
  running: Record<ExecutorKind, number>
  /** Epoch ms of its last heartbeat; a node whose heartbeat lapses leaves the view. */
  heartbeatAt: number
  /** The node answering this request. */
  self: boolean
}

/** Job counts of one BullMQ queue, as BullMQ's getJobCounts gives them. */
export interface ClusterQueue {
  name: string
  waiting: number
  active: number
  delayed: number
  prioritized: number
  completed: number
  failed: number
}

/** GET /api/cluster. `enabled: false` when the node was started without `--redis`. */
export interface ClusterInfo {
  enabled: boolean
  /** This node's id (null when not in a cluster). */
  nodeId: string | null
  /** The Redis URL with any password replaced by `***`; null when not in a cluster. */
  redis: string | null
  /** False while Redis is unreachable; `error` says why. */
  connected: boolean
  error: string | null
  nodes: ClusterNode[]
  queues: ClusterQueue[]
}

/**
 * The cluster a host joins at its start. `app`: the Electron app's settings.json, which
 * the UI may change (saved now, used from the next start; the password of `redis` shown as `***`).
 * `flags`: `taskloop serve` takes them from its flags (`--redis`, `--node-id`, `--queue`), read-only;
 * GET /api/cluster says what the node runs with.
 */
export type ClusterSettings =
  | {
      source: 'app'
      /** Null: the app joins no cluster. */
      redis: string | null
      nodeId: string | null
      /** Empty: the default queue (`taskloop`). */
      queues: string[]
      /** What was wrong with the saved settings, or with joining the cluster at this start. */
      problem: string | null
    }
  | { source: 'flags' }

/** What the UI saves. A `redis` whose password is `***` keeps the saved password. */
export interface ClusterSettingsUpdate {
  redis: string | null
  nodeId?: string | null
  queues?: string[]
}
