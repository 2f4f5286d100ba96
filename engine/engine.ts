// The engine facade: where a job's life begins (submit), the API every host and client uses,
// and the shutdown sequence. Runs on the engine thread in the app (engine-thread.ts), or
// in-process in tests. Never imports electron.
import os from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseGroupLimit, parseHistoryQuery, parseListQuery, parseLimits, parseSubmitSpec, parseTaskId } from '../common/schema'
import {
  BUILTIN_JOBS,
  EXECUTORS,
  isCommandSpec,
  TaskloopError,
  type BatchSnapshot,
  type BuiltinJob,
  type EngineEvent,
  type ExecutorKind,
  type HistoryQuery,
  type Limits,
  type ListQuery,
  type LogLine,
  type ShutdownStatus,
  type Snapshot,
  type Stats,
  type SubmitSpec,
  type TaskDetail,
  type TaskSnapshot,
  type TaskSpec,
} from '../common/types'
import { EventBatcher } from './events'
import { createExecutors } from './executors'
import type { Executor } from './executors/executor'
import type { EngineHandle, EngineOptions, ShutdownReport } from './handle'
import { DEFAULT_EXECUTOR } from './jobs/job'
import { watchChildren } from './children'
import { Recent } from './metrics'
import { processStartTime, reapOrphans } from './orphans'
import { Scheduler } from './scheduler'
import { TaskStore } from './store'
import type { Opened } from './store'
import { Task, type BatchInfo } from './task'
import { TaskLogs } from './task-log'

const THROUGHPUT_WINDOW_MS = 10_000
const PRUNE_EVERY_MS = 60_000
const STATS_EVERY_MS = 1000
const DEFAULT_MAX_PENDING = 200_000
const DEFAULT_KEEP_IN_MEMORY = 20_000
const LAG_RESOLUTION_MS = 10
const DEFAULT_STORE_CHECK_MS = 15_000

export function defaultLimits(): Limits {
  const cores = Math.max(1, os.availableParallelism())
  return { loop: 256, thread: cores, process: cores, command: 16 }
}

export class Engine implements EngineHandle {
  private readonly options: Required<Omit<EngineOptions, 'limits' | 'dataDir' | 'retention' | 'threadHeapMb' | 'heldLock' | 'owner' | 'resetStore' | 'storeCheckMs'>> &
    Pick<EngineOptions, 'retention'>
  /** Finished tasks in the order they finished, for the in-memory bound. */
  private finishedOrder: Task[] = []
  private readonly runMs = new Recent()
  private readonly waitMs = new Recent()
  private readonly cancelMs = new Recent()
  private statsTimer: NodeJS.Timeout | null = null
  private readonly events: EventBatcher
  private readonly logs: TaskLogs
  private readonly executors: Record<ExecutorKind, Executor>
  private readonly scheduler: Scheduler
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  private readonly startedAt = Date.now()
  private readonly idPrefix = Date.now().toString(36)
  private nextId = 0
  private nextSeq = 0
  private finishedAt: number[] = []
  private quitListeners: (() => void)[] = []
  private shutdownStatus: ShutdownStatus | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private escalateNow: (() => void) | null = null
  private forced = new Set<string>()
  private readonly store: TaskStore | null
  private unwatchChildren: (() => void) | null = null
  /** Told to every client in its snapshot: something the user must know about this start. */
  private notice: string | null = null
  private pruneTimer: NodeJS.Timeout | null = null
  private storeCheckTimer: NodeJS.Timeout | null = null

  constructor(options: EngineOptions = {}) {
    this.options = {
      shutdownGraceMs: options.shutdownGraceMs ?? 5000,
      killGraceMs: options.killGraceMs ?? 3000,
      jobsDirs: options.jobsDirs ?? [],
      cwd: options.cwd ?? process.cwd(),
      batchIntervalMs: options.batchIntervalMs ?? 50,
      retention: options.retention,
      keepInMemory: options.keepInMemory ?? DEFAULT_KEEP_IN_MEMORY,
      maxPending: options.maxPending ?? DEFAULT_MAX_PENDING,
    }
    // First: a data folder that cannot be used stops the start here (StoreError), before anything runs.
    const opened = options.dataDir ? TaskStore.open(options.dataDir, { ...options, keepFinished: this.options.keepInMemory }) : null
    const limits = { ...defaultLimits(), ...(options.limits ?? {}) }
    this.events = new EventBatcher(this.options.batchIntervalMs, () => ({ ...this.scheduler.counters }))
    this.logs = new TaskLogs(this.options.batchIntervalMs, options.dataDir)
    this.executors = createExecutors({
      limits,
      cwd: this.options.cwd,
      jobsDirs: this.options.jobsDirs,
      ...(options.threadHeapMb ? { threadHeapMb: options.threadHeapMb } : {}),
    })
    this.scheduler = new Scheduler({
      executors: this.executors,
      limits,
      killGraceMs: this.options.killGraceMs,
      events: this.events,
      logs: this.logs,
      onForced: (t) => this.noteForced(t),
      onFinished: (t) => this.measure(t),
    })
    this.lag.enable()
    // Metrics ride along the event batches once a second, only while someone listens.
    this.statsTimer = setInterval(() => {
      if (this.events.listenerCount > 0) void this.stats().then((s) => this.events.changedStats(s))
    }, STATS_EVERY_MS)
    this.statsTimer.unref()
    this.store = opened?.store ?? null
    if (opened) {
      const store = opened.store
      // Written once per event batch: the batch already holds the latest snapshot of each changed task.
      this.events.on((e) => store.save(e.tasks))
      this.unwatchChildren = watchChildren((pid, group, alive) =>
        alive ? store.addChild(pid, group, processStartTime(pid)) : store.removeChild(pid),
      )
      this.recover(store, opened.saved, opened.notes, reapOrphans(store.takeChildren()).length)
      // A folder pulled away is noticed without a submission too (the UI and stats say so).
      this.storeCheckTimer = setInterval(() => store.check(), options.storeCheckMs ?? DEFAULT_STORE_CHECK_MS)
      this.storeCheckTimer.unref()
      if (this.options.retention) {
        this.prune()
        this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS)
        this.pruneTimer.unref()
      }
    }
  }

  /**
   * On start: history comes back as it was; pending tasks are queued again; tasks that were running
   * when the app died are failed (interrupted), or queued again when their spec says onInterrupt: requeue.
   */
  private recover(store: TaskStore, { tasks, batches }: Opened['saved'], notes: string[], reaped: number): void {
    const batchInfo = new Map(batches.map((b) => [b.id, { id: b.id, failFast: b.failFast }]))
    for (const b of batches) this.scheduler.addBatch(b.id, b.name ?? 'batch', b.concurrency, b.failFast)
    const changed: Task[] = []
    for (const snap of tasks) {
      const task = Task.restore(snap, ++this.nextSeq, (snap.batchId && batchInfo.get(snap.batchId)) || null)
      if (task.final) {
        this.scheduler.addFinished(task)
        this.finishedOrder.push(task)
        continue
      }
      if (task.state !== 'pending') {
        const requeue = task.spec.onInterrupt === 'requeue'
        Object.assign(task, { state: requeue ? 'pending' : 'failed', worker: null, progress: null })
        if (requeue) {
          task.attempt++
          task.startedAt = null
        } else {
          task.reason = 'interrupted'
          task.endedAt = Date.now()
          task.error = { message: 'Taskloop stopped while this task was running' }
          this.scheduler.addFinished(task)
          changed.push(task)
          continue
        }
        changed.push(task)
      }
      this.scheduler.add([task])
    }
    store.save(changed.map((t) => t.snapshot()))
    if (reaped > 0) {
      notes.push(`${reaped} process group${reaped === 1 ? '' : 's'} left running by the previous run (it was killed) ${reaped === 1 ? 'was' : 'were'} ended.`)
    }
    this.notice = notes.length > 0 ? notes.join(' ') : null
  }

  /** Nothing is acknowledged that cannot be stored: a store pulled away refuses new tasks. */
  private checkStore(): void {
    if (this.store?.check()) throw new TaskloopError('unavailable', this.store.lastError!)
  }

  private prune(): void {
    if (!this.store || !this.options.retention) return
    const ids = this.store.prune(this.options.retention)
    this.scheduler.forget(ids)
    this.logs.forget(ids)
  }

  async submit(input: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    const spec = parseSubmitSpec(input)
    const count = 'batch' in spec ? spec.batch.tasks.length : 1
    const pending = this.scheduler.counters.pending
    if (pending + count > this.options.maxPending) {
      throw new TaskloopError(
        'overloaded',
        `queue full: ${pending} tasks pending, ${count} more would pass the bound of ${this.options.maxPending}; try again when some have run`,
      )
    }
    if ('batch' in spec) {
      const b = spec.batch
      const batch: BatchInfo = { id: `b-${this.idPrefix}-${(++this.nextId).toString(36)}`, failFast: b.failFast ?? false }
      const ids = b.tasks.map(() => this.newId())
      const specs = b.tasks.map((t, i) => ({
        ...t,
        name: t.name ?? `${b.name ?? 'batch'} #${i + 1}`,
        ...(t.after ? { after: t.after.map((dep, j) => this.resolveLocal(dep, ids, i, `batch.tasks.${i}.after.${j}`)) } : {}),
      }))
      // One set for the whole batch: building it per task made a big submit quadratic.
      const siblings = new Set(ids)
      specs.forEach((t, i) => this.checkAfter(t, `batch.tasks.${i}.`, siblings))
      checkCycles(specs, ids)
      const concurrency = b.concurrency ?? b.tasks.length
      const name = b.name ?? 'batch'
      this.scheduler.addBatch(batch.id, name, concurrency, batch.failFast)
      this.store?.saveBatch({ id: batch.id, name, concurrency, failFast: batch.failFast })
      return { ...this.enqueue(specs.map((t, i) => this.createTask(ids[i]!, t, batch))), batchId: batch.id }
    }
    this.checkAfter(spec, '', new Set())
    return this.enqueue([this.createTask(this.newId(), spec, null)])
  }

  async batch(id: string): Promise<BatchSnapshot> {
    const b = this.scheduler.batch(parseTaskId(id))
    if (!b) throw new TaskloopError('not-found', `unknown batch id "${id}"`)
    return b
  }

  async list(query?: ListQuery): Promise<TaskSnapshot[]> {
    const { state, limit } = parseListQuery(query)
    const out: TaskSnapshot[] = []
    for (const t of this.scheduler.tasks.values()) if (!state || t.state === state) out.push(t.snapshot())
    return limit !== undefined ? out.slice(-limit) : out
  }

  async history(query?: HistoryQuery): Promise<TaskSnapshot[]> {
    const { state, before, limit = 100 } = parseHistoryQuery(query)
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

  async get(id: string): Promise<TaskDetail> {
    return { ...this.task(id).snapshot(), log: this.logs.tail(id), logFile: this.logs.fileOf(id) }
  }

  async cancel(id: string): Promise<void> {
    this.scheduler.cancel(this.task(id), 'user')
  }

  async retry(id: string): Promise<{ id: string }> {
    const old = this.task(id)
    if (old.state !== 'failed' && old.state !== 'cancelled') {
      throw new TaskloopError('conflict', `task ${id} is ${old.state}: only failed or cancelled tasks can be retried`)
    }
    if (this.shutdownPromise) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: no new tasks are accepted')
    this.checkStore()
    return { id: this.enqueue([this.createTask(this.newId(), old.spec, null)]).ids[0]! }
  }

  async cancelAll(): Promise<void> {
    this.cancelEverything('user')
  }

  async stats(): Promise<Stats> {
    const now = Date.now()
    this.finishedAt = this.finishedAt.filter((t) => now - t < THROUGHPUT_WINDOW_MS)
    const windowMs = Math.min(THROUGHPUT_WINDOW_MS, Math.max(1, now - this.startedAt))
    const pools = Object.fromEntries(
      EXECUTORS.map((k) => [
        k,
        {
          limit: this.scheduler.limits[k],
          running: this.scheduler.activeCount(k),
          pending: this.scheduler.queuedCount(k),
          workers: this.executors[k].workers(),
        },
      ]),
    ) as Stats['pools']
    // The histogram measures each timer tick, resolution included: the delay is what exceeds it.
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - LAG_RESOLUTION_MS)
    return {
      counters: { ...this.scheduler.counters },
      pools,
      workers: EXECUTORS.flatMap((k) => this.executors[k].workerStats?.() ?? []),
      loopLag: { p50: ms(this.lag.percentile(50)), p99: ms(this.lag.percentile(99)), max: ms(this.lag.max) },
      throughput: Math.round((this.finishedAt.length / windowMs) * 1000 * 10) / 10,
      uptimeMs: now - this.startedAt,
      shuttingDown: this.shutdownPromise !== null,
      hostLag: null,
      runMs: this.runMs.percentiles(),
      waitMs: this.waitMs.percentiles(),
      cancelMs: this.cancelMs.percentiles(),
      paused: this.scheduler.isPaused,
      groupLimits: this.scheduler.groupLimits(),
      store: this.store ? { file: this.store.file, error: this.store.lastError ?? this.logs.lastError } : null,
    }
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
    this.scheduler.setGroupLimit(g, l)
    return this.scheduler.groupLimits()
  }

  async snapshot(): Promise<Snapshot> {
    return this.snapshotNow()
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    listener(this.snapshotNow())
    return this.events.on(listener)
  }

  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    this.task(id)
    return this.logs.subscribe(id, listener)
  }

  async quit(): Promise<void> {
    if (this.quitListeners.length === 0) void this.shutdown()
    for (const l of this.quitListeners) l()
  }

  onQuitRequested(listener: () => void): void {
    this.quitListeners.push(listener)
  }

  shutdown(options: { graceMs?: number } = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.runShutdown(options.graceMs ?? this.options.shutdownGraceMs)
    return this.shutdownPromise
  }

  escalate(): void {
    if (this.escalateNow) this.escalateNow()
    else void this.shutdown({ graceMs: 0 })
  }

  /** ARCHITECTURE "Shutdown": announce, refuse, cancel pending, stop running, force after the grace, close. */
  private async runShutdown(graceMs: number): Promise<ShutdownReport> {
    const started = Date.now()
    const draining = [...this.scheduler.tasks.values()].filter((t) => t.state === 'running' || t.state === 'cancelling')
    this.shutdownStatus = {
      phase: 'draining',
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
    this.cancelEverything('shutdown', graceMs)
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
    this.lag.disable()
    this.shutdownStatus.phase = 'done'
    this.shutdownStatus.forced = [...this.forced]
    this.events.changedShutdown(this.shutdownStatus)
    this.logs.closeAll()
    this.events.flush()
    if (this.pruneTimer) clearInterval(this.pruneTimer)
    if (this.storeCheckTimer) clearInterval(this.storeCheckTimer)
    if (this.statsTimer) clearInterval(this.statsTimer)
    this.unwatchChildren?.()
    this.store?.close()
    return {
      cancelledPending: pendingBefore,
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

  private measure(t: Task): void {
    this.logs.close(t.id)
    const now = Date.now()
    this.finishedAt.push(now)
    if (this.finishedAt.length > 100_000) this.finishedAt = this.finishedAt.filter((x) => now - x < THROUGHPUT_WINDOW_MS)
    this.finishedOrder.push(t)
    // Forget in steps of 10%, so the bound costs O(1) per task.
    const keep = this.options.keepInMemory
    if (this.finishedOrder.length > keep + Math.max(1, keep / 10)) {
      const old = this.finishedOrder.splice(0, this.finishedOrder.length - keep).filter((x) => x.final)
      const ids = old.map((x) => x.id)
      this.scheduler.forget(ids)
      this.logs.forget(ids)
    }
    if (t.startedAt !== null) {
      this.runMs.add((t.endedAt ?? now) - t.startedAt)
      this.waitMs.add(t.startedAt - t.createdAt)
    }
    if (t.state === 'cancelled' && t.cancelRequestedAt !== null) this.cancelMs.add((t.endedAt ?? now) - t.cancelRequestedAt)
  }

  private noteForced(task: Task): void {
    this.forced.add(task.id)
    if (this.shutdownStatus) {
      this.shutdownStatus.forced = [...this.forced]
      this.events.changedShutdown(this.shutdownStatus)
    }
  }

  /**
   * Schedules new tasks, written to the store before the ids go back:
   * an acknowledged submission is never lost.
   */
  private enqueue(tasks: Task[]): { ids: string[] } {
    this.scheduler.add(tasks)
    this.store?.save(tasks.map((t) => t.snapshot()))
    return { ids: tasks.map((t) => t.id) }
  }

  private newId(): string {
    return `${this.idPrefix}-${(++this.nextId).toString(36)}`
  }

  private createTask(id: string, spec: TaskSpec, batch: BatchInfo | null): Task {
    return new Task(id, ++this.nextSeq, spec, executorOf(spec), batch)
  }

  /** "#N" inside a batch names its N-th task. */
  private resolveLocal(dep: string, ids: string[], self: number, path: string): string {
    if (!dep.startsWith('#')) return dep
    const n = Number(dep.slice(1))
    if (!Number.isInteger(n) || n < 0 || n >= ids.length) {
      throw new TaskloopError('invalid', `${path}: "${dep}" names no task of this batch (it has ${ids.length})`, path)
    }
    if (n === self) throw new TaskloopError('invalid', `${path}: a task cannot wait for itself`, path)
    return ids[n]!
  }

  private checkAfter(spec: TaskSpec, prefix: string, siblings: Set<string>): void {
    spec.after?.forEach((dep, i) => {
      if (!siblings.has(dep) && !this.scheduler.tasks.has(dep)) {
        throw new TaskloopError('invalid', `${prefix}after.${i}: unknown task id "${dep}"`, `${prefix}after.${i}`)
      }
    })
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

/** Dependencies inside one batch must not loop: a cycle would wait forever. */
function checkCycles(specs: TaskSpec[], ids: string[]): void {
  const index = new Map(ids.map((id, i) => [id, i]))
  const state = new Uint8Array(specs.length) // 0 new, 1 on the path, 2 done
  const visit = (i: number, path: number[]): void => {
    if (state[i] === 2) return
    if (state[i] === 1) {
      const loop = [...path.slice(path.indexOf(i)), i].map((n) => `#${n}`).join(' → ')
      throw new TaskloopError('invalid', `batch.tasks.${i}.after: dependency cycle ${loop}`, `batch.tasks.${i}.after`)
    }
    state[i] = 1
    for (const dep of specs[i]!.after ?? []) {
      const j = index.get(dep)
      if (j !== undefined) visit(j, [...path, i])
    }
    state[i] = 2
  }
  for (let i = 0; i < specs.length; i++) visit(i, [])
}

function executorOf(spec: TaskSpec): ExecutorKind {
  if (isCommandSpec(spec)) return 'command'
  if (spec.executor) return spec.executor
  return (BUILTIN_JOBS as readonly string[]).includes(spec.job) ? DEFAULT_EXECUTOR[spec.job as BuiltinJob] : 'loop'
}
