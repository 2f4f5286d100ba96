// What a host (Electron main, `taskloop serve`, `taskloop run`) holds: the API plus lifecycle.
// Implemented by Engine (in-process) and EngineClient (the engine on its own thread).
import type { TaskloopApi } from '../common/api'
import type { ExecutorKind, Limits, LogLine, OnStop, QuitOptions, SubmitSpec, TaskSnapshot } from '../common/types'
import type { FileId } from './data-folder'
import type { Retention } from './store'

export interface EngineOptions {
  /** Concurrency limit per executor; thread and process pools follow theirs. Defaults: common/defaults.ts (loop 256, thread/process = cores, command 16). */
  limits?: Partial<Limits>
  /** How long running work may take to stop cooperatively at shutdown before it is forced (default SHUTDOWN_GRACE_MS, 5000). */
  shutdownGraceMs?: number
  /** Per-task cooperative-cancel grace when the spec names none (default KILL_GRACE_MS, 3000). */
  killGraceMs?: number
  /** Folders whose job modules may be named by export alone (`--jobs DIR`). */
  jobsDirs?: string[]
  /** Base folder for relative job module paths and command cwd (default process.cwd()). */
  cwd?: string
  /** Event batch interval (default BATCH_INTERVAL_MS, 50 ms). */
  batchIntervalMs?: number
  /**
   * Folder for the task store (SQLite) and log files; absent: tasks live in memory only. A store
   * that cannot be used stops the engine's start with a StoreError (engine/data-folder.ts).
   */
  dataDir?: string
  /** A corrupt or newer store is moved aside (taskloop.db.broken-<time>) and a new one started. */
  resetStore?: boolean
  /** Named to a second Taskloop that finds the data folder in use ("taskloop serve" …). */
  owner?: string
  /**
   * The data folder's lock as the host process took it (engine/store-lock.ts; EngineClient sets it):
   * the host holds it for its whole life, so an engine thread that dies and restarts never loses it.
   * Absent: the engine takes the lock itself.
   */
  heldLock?: FileId
  /** How often the engine checks that its data folder is still there (default 15 s; also at each submit). */
  storeCheckMs?: number
  /** How many finished tasks the store (and memory) keep. */
  retention?: Retention
  /**
   * Finished tasks kept in memory (default KEEP_IN_MEMORY, 20,000); older ones stay in the store (history) but
   * leave the engine's memory and its snapshots, so a long-running engine stays bounded.
   */
  keepInMemory?: number
  /** Heap limit of each pool thread in MB (default THREAD_HEAP_MB, 2048): a job past it fails as crashed, the app lives on. */
  threadHeapMb?: number
  /** Backpressure: a submit that would take the pending queue past this is refused (default MAX_PENDING, 200,000). */
  maxPending?: number
  /**
   * Engine thread only: how long its event loop may not turn before the host calls it blocked
   * (default 3000 ms); the blocking loop task is then ended after its kill grace.
   */
  blockedAfterMs?: number
}

export interface ShutdownOptions {
  /** How long running work may take to stop cooperatively (default: the engine's shutdownGraceMs). */
  graceMs?: number
  /**
   * `cancel` (default): pending tasks are cancelled, running ones cancelled (reason "shutdown").
   * `keep`: pending tasks stay pending in the store for the next start; running ones are stopped
   * and follow their spec's onInterrupt, as after a crash (pending again, or failed "interrupted").
   */
  pending?: OnStop
}

export interface ShutdownReport {
  /** Pending tasks cancelled with reason "shutdown". */
  cancelledPending: number
  /** Pending tasks left pending for the next start (`pending: 'keep'`), requeued running ones included. */
  keptPending: number
  /** Running tasks that stopped cooperatively within the grace. */
  stoppedCooperatively: number
  /** Ids of tasks that had to be forced (terminate / SIGKILL), or abandoned loop jobs. */
  forced: string[]
  durationMs: number
}

/** A cluster task this node runs (cluster/): the id it has on every node, where it came from, who runs it. */
export interface ClusterRun {
  id: string
  /** The BullMQ queue, or `list:KEY` for an item of a Redis list. */
  queue: string
  node: string
  /** BullMQ's attempt number (1 for the first). */
  attempt?: number
  /** Executors this node accepts from the cluster (`--queue-allow`); absent: all. */
  allow?: readonly ExecutorKind[]
}

/** One cluster task for submitManyWith. */
export interface ClusterSubmit {
  spec: SubmitSpec
  run: ClusterRun
}

/** How one item of submitManyWith went: taken, or refused with the error submitWith would throw. */
export type ClusterSubmitted = { ok: true } | { ok: false; error: { code: string; error: string; path?: string } }

/** Where a job's queued submit goes (the cluster layer's submit). */
export type QueuedSubmit = (spec: SubmitSpec) => Promise<{ ids: string[] }>

export interface EngineHandle extends TaskloopApi {
  /**
   * Host only, never a client's operation: runs one cluster task here under its cluster id. The
   * spec is validated like any submit (it came from Redis); its retries, delay and priority were
   * BullMQ's business, so the local task runs once.
   */
  submitWith(spec: SubmitSpec, run: ClusterRun): Promise<{ ids: string[] }>
  /**
   * Host only: several cluster tasks at once (the jobs a node takes in one turn), written to the
   * store in one go. Each item's outcome in order: a refused spec fails only its own item.
   */
  submitManyWith(items: ClusterSubmit[]): Promise<ClusterSubmitted[]>
  /**
   * Host only: waits until at least one of the tasks is final (or waitMs passes), then returns the
   * final ones among them (their finishes of that turn together) and the ids this engine does not hold.
   */
  finals(ids: string[], waitMs: number): Promise<{ final: TaskSnapshot[]; unknown: string[] }>
  /**
   * Host only: a running job's ctx.submit of a spec with `queue` goes to `handler` (the cluster
   * layer) instead of being refused. Set once; it holds across engine-thread restarts.
   */
  onQueuedSubmit(handler: QueuedSubmit): void
  /**
   * Host only: every log line of this engine's cluster tasks (submitWith, submitManyWith) goes to
   * `listener`, coalesced per event interval as a log subscription's, the lines of all of them
   * in one call: no subscription per task. Set once; it holds across engine-thread restarts.
   */
  followClusterLogs(listener: (logs: { id: string; lines: LogLine[] }[]) => void): void

  /** Runs the shutdown sequence once; later calls return the same promise. */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport>
  /** A second Ctrl+C: force everything still running now. */
  escalate(): void
  /** The host learns that a client asked to quit (the UI's Quit), with the client's choice for pending tasks. */
  onQuitRequested(listener: (options: QuitOptions) => void): void
}
