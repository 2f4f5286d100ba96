// The engine facade: where a job's life begins (submit), the API every host and client uses,
// and the shutdown sequence. Runs on the engine thread in the app (engine-thread.ts), or
// in-process in tests. Never imports electron. What it delegates: submit-plan.ts (a submission
// into tasks), scheduler.ts (their lives), recovery.ts (the store at start), retention.ts (what
// is forgotten), stats.ts (the figures).
import os from 'node:os'
import {
  BATCH_INTERVAL_MS,
  HISTORY_PAGE_SIZE,
  KEEP_IN_MEMORY,
  KILL_GRACE_MS,
  limitsForCores,
  MAX_PENDING,
  SHUTDOWN_GRACE_MS,
  STORE_CHECK_MS,
} from '../common/defaults'
import {
  parseCancelAllOptions,
  parseClusterSettingsUpdate,
  parseGroupLimit,
  parseHistoryQuery,
  parseListQuery,
  parseLimits,
  parseQuitOptions,
  parseSubmitSpec,
  parseTaskId,
  parseWaitOptions,
} from '../common/schema'
import {
  EXECUTORS,
  TaskloopError,
  type BatchSnapshot,
  type CancelAllOptions,
  type ClusterInfo,
  type ClusterSettings,
  type ClusterSettingsUpdate,
  type EngineEvent,
  type ExecutorKind,
  type HistoryQuery,
  type Limits,
  type ListQuery,
  type LogLine,
  type OnStop,
  type QuitOptions,
  type ShutdownStatus,
  type Snapshot,
  type Stats,
  type SubmitSpec,
  type TaskDetail,
  type TaskSnapshot,
  type WaitOptions,
} from '../common/types'
import { EventBatcher } from './events'
import { createExecutors } from './executors'
import type { Executor } from './executors/executor'
import type { ClusterRun, ClusterSubmit, ClusterSubmitted, EngineHandle, EngineOptions, QueuedSubmit, ShutdownOptions, ShutdownReport } from './handle'
import { JobCalls } from './job-calls'
import { markerScope } from './orphans'
import { persistTo, recover } from './recovery'
import { HistoryBound } from './retention'
import { Scheduler } from './scheduler'
import { EngineStats } from './stats'
import { TaskStore } from './store'
import type { ResolveOptions } from './jobs/resolve'
import { checkJobs, planSubmit, type PlanContext, type PlannedTask } from './submit-plan'
import { Task, type BatchInfo } from './task'
import { TaskLogs } from './task-log'

/**
 * The engine's own field: set after the parse, so no outside spec can claim a parent. By
 * Object.assign, not `{ ...spec, parent }`: V8 gives a spread followed by a new property a hidden
 * class of its own nearly every time, and every read of these specs' fields in the engine would go
 * megamorphic (tests/unit/engine/executors/protocol.test.ts checks a worker's requests the same way).
 * The parse has refused every field it does not know, `__proto__` included, so assigning copies
 * what a spread would (an own `__proto__` would set the copy's prototype instead).
 */
function withParent(spec: SubmitSpec, parent: string): SubmitSpec {
  if (!('batch' in spec)) return Object.assign({}, spec, { parent })
  return { batch: { ...spec.batch, tasks: spec.batch.tasks.map((t) => Object.assign({}, t, { parent })) } }
}

/** Only a cluster node's host sends a task to a queue (cluster/); the engine alone would run it here, unqueued. */
const isQueued = (spec: SubmitSpec): boolean => ('batch' in spec ? spec.batch.tasks : [spec]).some((t) => t.queue !== undefined)

function refuseQueued(spec: SubmitSpec): void {
  const tasks = 'batch' in spec ? spec.batch.tasks : [spec]
  const i = tasks.findIndex((t) => t.queue !== undefined || t.delayMs !== undefined)
  if (i < 0) return
  const at = 'batch' in spec ? `batch.tasks.${i}.` : ''
  const field = tasks[i]!.queue !== undefined ? 'queue' : 'delayMs'
  throw new TaskloopError(
    'invalid',
    `${at}${field}: queued tasks go through a cluster node (taskloop serve --redis URL); this engine is not one`,
    `${at}${field}`,
  )
}

/** Concurrency per executor when the options name none: one pool worker per core. */
export function defaultLimits(): Limits {
  return limitsForCores(os.availableParallelism())
}

export class Engine implements EngineHandle {
  private readonly shutdownGraceMs: number
  private readonly maxPending: number
  /** Where job modules are found: submit checks them (./submit-plan.ts checkJobs), the executors load them. */
  private readonly jobs: ResolveOptions
  private readonly events: EventBatcher
  private readonly logs: TaskLogs
  private readonly executors: Record<ExecutorKind, Executor>
  private readonly scheduler: Scheduler
  private readonly figures: EngineStats
  /** Running jobs' calls: queues, locks, submit and wait (engine/job-calls.ts). */
  private readonly calls: JobCalls
  private readonly retention: HistoryBound
  private readonly idPrefix = Date.now().toString(36)
  private nextId = 0
  private nextSeq = 0
  private readonly ids: PlanContext = {
    newTaskId: () => this.newId(),
    newBatchId: () => `b-${this.idPrefix}-${(++this.nextId).toString(36)}`,
    known: (id) => this.scheduler.tasks.has(id),
  }
  private quitListeners: ((options: QuitOptions) => void)[] = []
  /** The cluster layer's submit, for a job's ctx.submit of a queued spec (onQueuedSubmit). */
  private queuedSubmit: QueuedSubmit | null = null
  private shutdownStatus: ShutdownStatus | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private escalateNow: (() => void) | null = null
  /** Tasks the shutdown forced (terminated, killed, abandoned). */
  private forced = new Set<string>()
  private readonly store: TaskStore | null
  private unpersist: (() => void) | null = null
  private storeCheck: NodeJS.Timeout | null = null
  /** Told to every client in its snapshot: something the user must know about this start. */
  private notice: string | null = null
  /** Blocking reads (get / batch with waitMs) waiting on a task or batch id: `check` on a change, `finish` to answer now. */
  private readonly waiters = new Map<string, Set<{ check(): void; finish(): void }>>()

  constructor(options: EngineOptions = {}) {
    this.shutdownGraceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS
    this.maxPending = options.maxPending ?? MAX_PENDING
    const batchIntervalMs = options.batchIntervalMs ?? BATCH_INTERVAL_MS
    const keepInMemory = options.keepInMemory ?? KEEP_IN_MEMORY
    // First: a data folder that cannot be used stops the start here (StoreError), before anything runs.
    const { resetStore, heldLock, owner } = options
    const opened = options.dataDir
      ? TaskStore.open(options.dataDir, { keepFinished: keepInMemory, ...(resetStore ? { resetStore } : {}), ...(heldLock ? { heldLock } : {}), ...(owner ? { owner } : {}) })
      : null
    this.store = opened?.store ?? null
    const limits = { ...defaultLimits(), ...(options.limits ?? {}) }
    this.events = new EventBatcher(batchIntervalMs, () => ({ ...this.scheduler.counters }))
    this.logs = new TaskLogs(batchIntervalMs, options.dataDir)
    // Derived from the data folder: the next start on it finds what a killed run's commands left.
    const scope = markerScope(options.dataDir)
    this.jobs = { cwd: options.cwd ?? process.cwd(), jobsDirs: options.jobsDirs ?? [] }
    this.calls = new JobCalls({ submit: (parent, spec) => this.submitFrom(parent, spec), task: (id) => this.scheduler.tasks.get(id) })
    this.executors = createExecutors({
      host: this.calls,
      limits,
      ...this.jobs,
      markerScope: scope,
      ...(options.threadHeapMb ? { threadHeapMb: options.threadHeapMb } : {}),
    })
    this.scheduler = new Scheduler({
      executors: this.executors,
      limits,
      killGraceMs: options.killGraceMs ?? KILL_GRACE_MS,
      events: this.events,
      logs: this.logs,
      onClaim: (tasks) => this.store?.markStarted(tasks),
      onForced: (t) => this.noteForced(t),
      onFinished: (t) => {
        // A loop job abandoned after its grace never ends its run: its locks are freed here.
        this.calls.runEnded(t.id)
        this.calls.waits.finished(t)
        this.logs.close(t.id)
        this.retention.finished(t)
        this.figures.finished(t)
        this.wake(t.id)
        // The last task left ended: its subscribers hear it now, not at the end of the batch interval.
        if (this.scheduler.drained) this.events.quiet()
      },
      onBatchChanged: (id) => this.wake(id),
    })
    this.figures = new EngineStats(this.scheduler, this.executors, this.calls)
    this.figures.publishTo(this.events, () => this.statsNow())
    this.retention = new HistoryBound({
      keepInMemory,
      scheduler: this.scheduler,
      logs: this.logs,
      store: this.store,
      retention: options.retention,
      forgot: (ids) => this.events.forgotTasks(ids),
    })
    if (opened) {
      const store = opened.store
      this.unpersist = persistTo(store, this.events)
      const recovered = recover(store, opened.saved, this.scheduler, { nextSeq: () => ++this.nextSeq, markerScope: scope })
      this.retention.restored(recovered.finished)
      const notes = [...opened.notes, ...(recovered.notice ? [recovered.notice] : [])]
      this.notice = notes.length > 0 ? notes.join(' ') : null
      this.retention.start()
      // A folder pulled away is noticed without a submission too (the UI and stats say so).
      this.storeCheck = setInterval(() => store.check(), options.storeCheckMs ?? STORE_CHECK_MS)
      this.storeCheck.unref()
    }
  }

  async submit(input: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    return this.submitFrom(null, input)
  }

  /** A submission from outside, or from a running job (ctx.submit): then each task records its parent. */
  private async submitFrom(parent: string | null, input: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    const parsed = parseSubmitSpec(input)
    // A job's queued spec goes to the cluster (it runs on any node, so it is not this task's child to cancel).
    if (parent && this.queuedSubmit && isQueued(parsed)) return this.queuedSubmit(parsed)
    refuseQueued(parsed)
    const spec = parent ? withParent(parsed, parent) : parsed
    const count = 'batch' in spec ? spec.batch.tasks.length : 1
    const pending = this.scheduler.counters.pending
    if (pending + count > this.maxPending) {
      throw new TaskloopError(
        'overloaded',
        `queue full: ${pending} tasks pending, ${count} more would pass the bound of ${this.maxPending}; try again when some have run`,
      )
    }
    const plan = planSubmit(spec, this.ids)
    await checkJobs(plan, this.jobs)
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    const b = plan.batch
    if (!b) return this.enqueue(plan.tasks.map((t) => this.createTask(t, null)))
    const createdAt = Date.now()
    this.scheduler.addBatch(b.id, b, createdAt, plan.tasks.length)
    const failFast = b.returnWhen === 'firstError'
    this.store?.saveBatch({ ...b, failFast, createdAt })
    const batch: BatchInfo = { id: b.id, failFast }
    return { ...(await this.enqueue(plan.tasks.map((t) => this.createTask(t, batch)))), batchId: b.id }
  }

  onQueuedSubmit(handler: QueuedSubmit): void {
    this.queuedSubmit = handler
  }

  followClusterLogs(listener: (logs: { id: string; lines: LogLine[] }[]) => void): void {
    this.logs.follow({ wants: (id) => !!this.scheduler.tasks.get(id)?.queue, lines: listener })
  }

  async submitWith(input: SubmitSpec, run: ClusterRun): Promise<{ ids: string[] }> {
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    return this.enqueue([await this.clusterTask(input, run)])
  }

  async submitManyWith(items: ClusterSubmit[]): Promise<ClusterSubmitted[]> {
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    // The jobs of one turn mostly name the same module: it is looked at once for all of them.
    const looked = new Map<string, Promise<string | null>>()
    const planned = await Promise.allSettled(items.map((i) => this.clusterTask(i.spec, i.run, looked)))
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    const tasks: Task[] = []
    for (const p of planned) if (p.status === 'fulfilled') tasks.push(p.value)
    // Taken by this node to run now: claimed at once, their rows written as running by the claim (one write, not two).
    if (tasks.length > 0) await this.enqueue(tasks, true)
    return planned.map((p) => (p.status === 'fulfilled' ? { ok: true } : { ok: false, error: TaskloopError.from(p.reason).toJSON() }))
  }

  async finals(ids: string[], waitMs: number): Promise<{ final: TaskSnapshot[]; unknown: string[] }> {
    const held: Task[] = []
    const unknown: string[] = []
    for (const id of ids) {
      const t = this.scheduler.tasks.get(id)
      if (t) held.push(t)
      else unknown.push(id)
    }
    if (unknown.length === 0 && held.length > 0 && !held.some((t) => t.final)) {
      await this.waitUntil(held.map((t) => t.id), waitMs, () => held.some((t) => t.final))
      // The others finishing in this turn come along (a lone task has none to wait for: a cancel's answer goes at once).
      if (held.length > 1) await new Promise((r) => setImmediate(r))
    }
    const final: TaskSnapshot[] = []
    for (const t of held) if (t.final) final.push(t.snapshot())
    return { final, unknown }
  }

  /** A cluster task planned and validated (not yet scheduled): submitWith and submitManyWith. */
  private async clusterTask(input: SubmitSpec, run: ClusterRun, looked?: Map<string, Promise<string | null>>): Promise<Task> {
    const parsed = parseSubmitSpec(input)
    if ('batch' in parsed) throw new TaskloopError('invalid', 'a cluster task is one task spec, not a batch', 'batch')
    // BullMQ retried, delayed and ordered it already; `after` names tasks of other nodes.
    const { queue: _q, delayMs: _d, retries: _r, retryDelayMs: _rd, after: _a, afterWhen: _aw, parent: _p, ...spec } = parsed
    const plan = planSubmit(spec, { ...this.ids, newTaskId: () => run.id })
    const planned = plan.tasks[0]!
    if (run.allow && !run.allow.includes(planned.executor)) {
      throw new TaskloopError('invalid', `executor "${planned.executor}" is not allowed from the cluster on node ${run.node} (--queue-allow ${run.allow.join(',')})`, 'executor')
    }
    await checkJobs(plan, this.jobs, looked)
    const old = this.scheduler.tasks.get(run.id)
    if (old && !old.final) throw new TaskloopError('conflict', `task ${run.id} is already ${old.state} on this node`)
    // A BullMQ retry of a job this node ran before: the new attempt takes the id over.
    if (old) this.scheduler.forget([run.id])
    const task = this.createTask(planned, null)
    task.queue = run.queue
    task.node = run.node
    task.attempt = run.attempt ?? 1 // its first attempt here, so the retry budget counts from it
    return task
  }

  async batch(id: string, options?: WaitOptions): Promise<BatchSnapshot> {
    const batchId = parseTaskId(id)
    const { waitMs = 0 } = parseWaitOptions(options)
    const read = (): BatchSnapshot => {
      const b = this.scheduler.batch(batchId)
      if (!b) throw new TaskloopError('not-found', `unknown batch id "${id}"`)
      return b
    }
    // Settled for a waiting client: every task final, or the wait condition met with the rest left running.
    await this.waitUntil(batchId, waitMs, () => {
      const b = read()
      return b.state !== 'running' || (b.settledBy !== null && b.onSettled === 'leave')
    })
    return read()
  }

  async list(query?: ListQuery): Promise<TaskSnapshot[]> {
    const { state, limit } = parseListQuery(query)
    const out: TaskSnapshot[] = []
    for (const t of this.scheduler.tasks.values()) if (!state || t.state === state) out.push(t.snapshot())
    return limit !== undefined ? out.slice(-limit) : out
  }

  async history(query?: HistoryQuery): Promise<TaskSnapshot[]> {
    const { state, before, limit = HISTORY_PAGE_SIZE } = parseHistoryQuery(query)
    if (this.store) {
      try {
        return this.store.history({ ...(state ? { state } : {}), ...(before !== undefined ? { before } : {}), limit })
      } catch {
        // An unreadable store: what memory holds is the history there is.
      }
    }
    // In memory, tasks are in submission order already.
    const all = [...this.scheduler.tasks.values()]
    const end = before === undefined ? all.length : all.findIndex((t) => t.id === before)
    const out: TaskSnapshot[] = []
    for (let i = (end < 0 ? all.length : end) - 1; i >= 0 && out.length < limit; i--) {
      if (!state || all[i]!.state === state) out.push(all[i]!.snapshot())
    }
    return out
  }

  async get(id: string, options?: WaitOptions): Promise<TaskDetail> {
    const { waitMs = 0 } = parseWaitOptions(options)
    const task = this.task(id)
    await this.waitUntil(task.id, waitMs, () => task.final)
    return {
      ...task.snapshot(),
      log: this.logs.tail(task.id),
      logFile: this.logs.fileOf(task.id),
      locks: this.calls.locks.held(task.id),
      children: this.scheduler.childrenOf(task.id),
    }
  }

  /** Resolves when `done()` holds (checked whenever a key is woken) or after waitMs (Future.result(timeout)). */
  private waitUntil(key: string | string[], waitMs: number, done: () => boolean): Promise<void> {
    if (waitMs === 0 || done()) return Promise.resolve()
    const keys = typeof key === 'string' ? [key] : key
    return new Promise((resolve) => {
      const sets = keys.map((k) => {
        let set = this.waiters.get(k)
        if (!set) this.waiters.set(k, (set = new Set()))
        return set
      })
      const waiter = {
        finish: (): void => {
          clearTimeout(timer)
          sets.forEach((set, i) => {
            set.delete(waiter)
            if (set.size === 0 && this.waiters.get(keys[i]!) === set) this.waiters.delete(keys[i]!)
          })
          resolve()
        },
        check: (): void => {
          if (done()) waiter.finish()
        },
      }
      const timer = setTimeout(waiter.finish, waitMs)
      for (const set of sets) set.add(waiter)
    })
  }

  private wake(key: string): void {
    const set = this.waiters.get(key)
    if (set) for (const w of [...set]) w.check()
  }

  async cancel(id: string): Promise<void> {
    this.scheduler.cancel(this.task(id), 'user')
  }

  async retry(id: string): Promise<{ id: string }> {
    const old = this.task(id)
    // A finished task of any outcome can go again (a done one is "run again"); an unfinished one is still going.
    if (!old.final) {
      throw new TaskloopError('conflict', `task ${id} is ${old.state}: only a finished task (done, failed or cancelled) can be retried`)
    }
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    const task = this.createTask({ id: this.newId(), spec: old.spec, executor: old.executor }, null)
    task.retryOf = old.id
    // Its first attempt (and the start of its retry budget) is one past the old task's last.
    task.attempt = old.attempt + 1
    return { id: (await this.enqueue([task])).ids[0]! }
  }

  /** A lone engine is the whole of its cluster: `cluster` changes nothing here (cluster/ handles it on a node). */
  async cancelAll(options?: CancelAllOptions): Promise<void> {
    parseCancelAllOptions(options)
    this.cancelEverything('user')
  }

  async stats(): Promise<Stats> {
    return this.statsNow()
  }

  async setLimits(limits: Partial<Limits>): Promise<Limits> {
    this.scheduler.setLimits(parseLimits(limits))
    return { ...this.scheduler.limits }
  }

  /** Starts the pools' workers ahead of the first task (hosts call this at start; tests to measure). */
  async warm(): Promise<void> {
    await Promise.all(EXECUTORS.map((k) => this.executors[k].warm?.()))
  }

  async pause(): Promise<void> {
    this.scheduler.setPaused(true)
  }

  async resume(): Promise<void> {
    this.scheduler.setPaused(false)
  }

  async setGroupLimit(group: string, limit: number | null): Promise<Record<string, number>> {
    const { group: g, limit: l } = parseGroupLimit({ group, limit })
    this.scheduler.limitGroup(g, l)
    return this.scheduler.groupLimits()
  }

  async snapshot(): Promise<Snapshot> {
    return this.snapshotNow()
  }

  /** A lone engine belongs to no cluster; the cluster layer (cluster/) answers this for a node started with --redis. */
  async cluster(): Promise<ClusterInfo> {
    return { enabled: false, nodeId: null, redis: null, connected: false, error: null, nodes: [], queues: [] }
  }

  /**
   * A headless host (`taskloop serve`) takes its cluster settings from its flags: nothing to save.
   * The Electron app answers this itself, from its settings.json (main/index.ts).
   */
  async clusterSettings(update?: ClusterSettingsUpdate): Promise<ClusterSettings> {
    if (parseClusterSettingsUpdate(update) !== undefined) {
      throw new TaskloopError(
        'conflict',
        'taskloop serve takes its cluster settings from its flags: restart it with --redis URL [--node-id ID] [--queue NAME]',
      )
    }
    return { source: 'flags' }
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    listener(this.snapshotNow())
    return this.events.on(listener)
  }

  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    this.task(id)
    return this.logs.subscribe(id, listener)
  }

  async quit(options?: QuitOptions): Promise<void> {
    const { pending } = parseQuitOptions(options)
    const chosen = pending ? { pending } : {}
    // After the reply: the host's shutdown closes the very transport (server, window) that asked.
    setImmediate(() => {
      if (this.quitListeners.length === 0) void this.shutdown(chosen)
      for (const l of this.quitListeners) l(chosen)
    })
  }

  /**
   * Force now, from a client: the same as the host's escalate (a second Ctrl+C), which lands here on
   * the engine thread; the host's own watchdog still bounds the shutdown. Without a shutdown in
   * progress there is nothing to force: Quit starts one.
   */
  async forceShutdown(): Promise<void> {
    if (!this.escalateNow) throw new TaskloopError('conflict', 'no shutdown in progress: Quit starts one')
    this.escalateNow()
  }

  onQuitRequested(listener: (options: QuitOptions) => void): void {
    this.quitListeners.push(listener)
  }

  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.runShutdown(options.graceMs ?? this.shutdownGraceMs, options.pending ?? 'cancel')
    return this.shutdownPromise
  }

  escalate(): void {
    if (this.escalateNow) this.escalateNow()
    else void this.shutdown({ graceMs: 0 })
  }

  /**
   * docs/ARCHITECTURE.md "Shutdown": announce, refuse, cancel (or keep) pending, stop running, force after
   * the grace, close. Kept pending tasks stay in the store and are queued again at the next start.
   */
  private async runShutdown(graceMs: number, pending: OnStop): Promise<ShutdownReport> {
    const started = Date.now()
    const draining = [...this.scheduler.tasks.values()].filter((t) => t.state === 'running' || t.state === 'cancelling')
    this.shutdownStatus = {
      phase: 'draining',
      pending,
      startedAt: started,
      deadline: started + graceMs,
      draining: draining.map((t) => ({ id: t.id, name: t.name, executor: t.executor, state: t.state })),
      forced: [],
    }
    this.events.changedShutdown(this.shutdownStatus)
    this.events.flush()
    const pendingBefore = this.scheduler.counters.pending
    this.scheduler.drain()
    // Every stop in flight gets the shutdown grace; the deadline (or a second Ctrl+C) forces the rest.
    if (pending === 'cancel') this.cancelEverything('shutdown', graceMs)
    else {
      // Runs sent ahead to a pool come back to the queue, so none starts while the rest stops.
      this.scheduler.setPaused(true)
      for (const t of [...this.scheduler.tasks.values()]) if (t.state === 'running') this.scheduler.interrupt(t, graceMs)
    }
    const deadline = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs)
      this.escalateNow = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    const idle = this.scheduler.idle()
    await Promise.race([idle, deadline])
    if (this.scheduler.counters.running + this.scheduler.counters.cancelling > 0) {
      this.shutdownStatus.phase = 'forcing'
      this.events.changedShutdown(this.shutdownStatus)
      // Its own batch: a forced stop may settle at once, and clients must see the forcing phase.
      this.events.flush()
      this.scheduler.forceAll()
      await idle
    }
    await Promise.all(EXECUTORS.map((k) => this.executors[k].close()))
    this.figures.close()
    this.shutdownStatus.phase = 'done'
    this.shutdownStatus.forced = [...this.forced]
    this.events.changedShutdown(this.shutdownStatus)
    this.logs.closeAll()
    this.events.flush()
    // Blocking reads answer with what is there: nothing changes any more.
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.finish()
    this.retention.stop()
    if (this.storeCheck) clearInterval(this.storeCheck)
    this.unpersist?.()
    this.store?.close()
    return {
      cancelledPending: pending === 'cancel' ? pendingBefore : 0,
      keptPending: pending === 'keep' ? this.scheduler.counters.pending : 0,
      stoppedCooperatively: draining.length - this.forced.size,
      forced: [...this.forced],
      durationMs: Date.now() - started,
    }
  }

  private cancelEverything(reason: 'user' | 'shutdown', graceMs?: number): void {
    const tasks = [...this.scheduler.tasks.values()]
    // Pending first, so nothing starts in the slot a cancelled running task frees.
    for (const t of tasks) if (t.state === 'pending') this.scheduler.cancel(t, reason)
    for (const t of tasks) if (t.state === 'running') this.scheduler.cancel(t, reason, graceMs)
  }

  /** The shutdown summary lists what this shutdown forced: a stop forced before it is not its doing. */
  private noteForced(task: Task): void {
    if (!this.shutdownStatus || this.forced.has(task.id)) return
    this.forced.add(task.id)
    this.shutdownStatus.forced = [...this.forced]
    this.events.changedShutdown(this.shutdownStatus)
  }

  /**
   * Schedules new tasks, written to the store before the ids go back:
   * an acknowledged submission is never lost. A big one is written in turns (TaskStore.saveNew).
   * `claimNow`: what can start is claimed in this turn, its rows inserted by the claim's write
   * (saveNew writes the rest).
   */
  private async enqueue(tasks: Task[], claimNow = false): Promise<{ ids: string[] }> {
    this.scheduler.add(tasks)
    if (claimNow) this.scheduler.claimNow()
    await this.store?.saveNew(tasks)
    return { ids: tasks.map((t) => t.id) }
  }

  private newId(): string {
    return `${this.idPrefix}-${(++this.nextId).toString(36)}`
  }

  private createTask(t: PlannedTask, batch: BatchInfo | null): Task {
    return new Task(t.id, ++this.nextSeq, t.spec, t.executor, batch)
  }

  private statsNow(): Stats {
    return this.figures.read({
      shuttingDown: this.shutdownPromise !== null,
      store: this.store ? { file: this.store.file, error: this.store.lastError ?? this.logs.lastError } : null,
    })
  }

  /** Nothing is acknowledged that cannot be stored: a store pulled away refuses new tasks. */
  private checkStore(): void {
    if (this.store?.check()) throw new TaskloopError('unavailable', this.store.lastError!)
  }

  private task(id: string): Task {
    const t = this.scheduler.tasks.get(parseTaskId(id))
    if (!t) throw new TaskloopError('not-found', `unknown task id "${id}"`)
    return t
  }

  private snapshotNow(): Snapshot {
    const tasks: TaskSnapshot[] = []
    for (const t of this.scheduler.tasks.values()) tasks.push(t.snapshot())
    return {
      type: 'snapshot',
      seq: this.events.seq,
      tasks,
      counters: { ...this.scheduler.counters },
      limits: { ...this.scheduler.limits },
      shutdown: this.shutdownStatus,
      ...(this.notice ? { notice: this.notice } : {}),
    }
  }
}
