// The engine's proxy on the host thread (Electron main, `taskloop serve`/`run`): the same
// EngineHandle as the in-process Engine, over postMessage to the engine thread.
// It also supervises the thread: if the engine thread dies, a new one starts (recovering the
// tasks from the store), subscribers get a fresh snapshot with a notice, and what the dead
// thread had spawned is killed. A watchdog reads the thread's heartbeat from shared memory: an
// event loop blocked by a loop job is reported at once (calls fail with `engine-blocked`), and
// after the job's kill grace the thread is ended and restarted. The loop task that blocked or
// crashed the thread is failed on the restart and never runs again, so a job cannot make the
// engine crash in a loop.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { SHUTDOWN_GRACE_MS } from '../../common/defaults'
import { OPERATION_NAMES, type OperationMethods } from '../../common/operations'
import type { Counters, EngineEvent, EventBatch, LogLine, QuitOptions, Stats, SubmitSpec, TaskSnapshot } from '../../common/types'
import { emptyCounters, TaskloopError } from '../../common/types'
import engineThreadEntry from './engine-thread?modulePath'
import type { ClusterRun, ClusterSubmit, ClusterSubmitted, EngineHandle, EngineOptions, QueuedSubmit, ShutdownOptions, ShutdownReport } from '../handle'
import { COSTS_ON, threadCosts, timed } from '../costs'
import { killMarked } from '../orphans'
import { StoreLock } from '../store-lock'
import { EventUnpacker } from './event-pack'
import type { CallName, EngineThreadData, FromEngine, ToEngine } from './protocol'
import { addBlame, type Blame } from '../blame'
import { createShared, SharedReader, type BoardEntry } from './shared'

/**
 * The host's lag is sampled by a timer this often. Each tick wakes a thread that would otherwise
 * sleep between event batches: ~65-90 µs of CPU per wake-up on the 2-core bench machine under load,
 * ~7 ms of CPU a second at 10 ms (2 ms at 50), taken from the pool's workers. A stall of 50 ms or
 * more is always seen; a shorter one when it spans a tick.
 */
const HOST_LAG_RESOLUTION_MS = 50
/**
 * More deaths than this within RESTART_WINDOW_MS, none of them blamed on a task (the engine
 * itself cannot start or keeps failing), and the engine stays down: calls fail and the host exits.
 */
const MAX_RESTARTS = 5
const RESTART_WINDOW_MS = 60_000
const DEFAULT_BLOCKED_AFTER_MS = 3000
const DEFAULT_KILL_GRACE_MS = 3000
/** Past the shutdown grace plus this, an engine thread that has not finished its shutdown is ended. */
const SHUTDOWN_MARGIN_MS = 10_000

interface Blocked {
  /** When the heartbeat last moved. */
  since: number
  /** The loop tasks running then: one of them blocks the loop. */
  tasks: BoardEntry[]
  killTimer: NodeJS.Timeout | null
}

interface Pending {
  resolve(v: unknown): void
  reject(e: unknown): void
}

/**
 * A call asked again while the engine is busy (engine-blocked): such a call is refused before it
 * is sent, so asking again is safe. For a host's own calls that must be answered, such as its
 * first questions at start, when a loaded machine may keep a new engine thread busy for seconds.
 * A loop task that blocks the engine is ended after its kill grace, and the restarted engine answers.
 */
export async function whenAnswered<T>(call: () => Promise<T>, everyMs = 100): Promise<T> {
  for (;;) {
    try {
      return await call()
    } catch (e) {
      if (!(e instanceof TaskloopError && e.code === 'engine-blocked')) throw e
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  }
}

/**
 * Starts the engine on its own thread. With a data folder, this (host) process takes the folder's
 * lock first and holds it until shutdown. Rejects when the engine cannot start, with a StoreError
 * (engine/data-folder.ts) when the store is the reason.
 */
export async function startEngineThread(options: EngineOptions = {}): Promise<EngineClient> {
  const lock = options.dataDir ? StoreLock.acquire(options.dataDir, options.owner ?? 'Taskloop') : null
  const client = new EngineClient(lock ? { ...options, heldLock: lock.id } : options, lock)
  try {
    await client.ready
  } catch (e) {
    lock?.release()
    throw e
  }
  return client
}

// Every operation's method but stats, installed from the table by the class's static block.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface EngineClient extends Omit<OperationMethods, 'stats'> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class EngineClient implements EngineHandle {
  /** Resolves when the current engine thread is ready. */
  ready!: Promise<void>
  private worker!: Worker
  private nextId = 0
  private pending = new Map<number, Pending>()
  private listeners = new Set<(e: EngineEvent) => void>()
  /** Subscribers whose snapshot failed (the engine was blocked or died): joined again when it answers. */
  private waiting = new Map<(e: EngineEvent) => void, { live: boolean }>()
  private logWatchers = new Map<number, { id: string; listener: (lines: LogLine[]) => void }>()
  private quitListeners: ((options: QuitOptions) => void)[] = []
  private queuedSubmit: QueuedSubmit | null = null
  private clusterLogs: ((logs: { id: string; lines: LogLine[] }[]) => void) | null = null
  private noticeListeners: ((notice: string) => void)[] = []
  private dead: TaskloopError | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private deaths: number[] = []
  /** The first engine thread became ready: from then on a dead thread is restarted. */
  private started = false
  /** Processes (pool children, command groups) the engine thread has alive, to kill if it dies. */
  private children = new Map<number, { group: boolean; marker: string | undefined }>()
  /** The host thread's own event-loop delay, reported next to the engine thread's. */
  private readonly hostLag = monitorEventLoopDelay({ resolution: HOST_LAG_RESOLUTION_MS })
  /** The current engine thread's heartbeat and loop runs. */
  private shared!: SharedReader
  /** The loop task whose code ran when the current thread threw past every handler or exited. */
  private culprit: string | null = null
  private beat = { value: 0, at: 0 }
  /** The watchdog only judges a thread that finished starting (recovery may take a while). */
  private watching = false
  private blocked: Blocked | null = null
  private readonly watchdog: NodeJS.Timeout
  private readonly blockedAfterMs: number
  /** Seq and counters of the last event, for notices sent between batches. */
  private last: { seq: number; counters: Counters } | null = null

  constructor(
    private readonly options: EngineOptions,
    /** The data folder's lock, held by this process for its life (engine/store-lock.ts). */
    readonly lock: StoreLock | null = null,
  ) {
    this.hostLag.enable()
    this.blockedAfterMs = options.blockedAfterMs ?? DEFAULT_BLOCKED_AFTER_MS
    this.watchdog = setInterval(() => this.watch(), Math.max(20, Math.min(250, this.blockedAfterMs / 4)))
    this.watchdog.unref()
    this.spawn()
  }

  // One method per operation of common/operations.ts, each a call to the engine thread;
  // a method the class writes itself (stats) is kept.
  static {
    for (const name of OPERATION_NAMES) {
      if (Object.hasOwn(this.prototype, name)) continue
      Object.defineProperty(this.prototype, name, {
        value(this: EngineClient, ...args: unknown[]) {
          return this.call(name, ...args)
        },
        writable: true,
        configurable: true,
      })
    }
  }

  /** The engine thread's figures plus the host thread's own event-loop delay. */
  async stats(): Promise<Stats> {
    const stats = await this.call<Stats>('stats')
    if (COSTS_ON && stats.costs) stats.costs.host = threadCosts()
    return { ...stats, hostLag: this.lagFigures() }
  }

  submitWith(spec: SubmitSpec, run: ClusterRun): Promise<{ ids: string[] }> {
    return this.call('submitWith', spec, run)
  }

  submitManyWith(items: ClusterSubmit[]): Promise<ClusterSubmitted[]> {
    return this.call('submitManyWith', items)
  }

  finals(ids: string[], waitMs: number): Promise<{ final: TaskSnapshot[]; unknown: string[] }> {
    return this.call('finals', ids, waitMs)
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    const entry = { live: true }
    this.join(listener, entry, undefined)
    return () => {
      entry.live = false
      this.listeners.delete(listener)
      this.waiting.delete(listener)
    }
  }

  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    const watch = ++this.nextId
    this.logWatchers.set(watch, { id, listener })
    this.post({ type: 'watch-log', watch, id })
    return () => {
      this.logWatchers.delete(watch)
      this.post({ type: 'unwatch-log', watch })
    }
  }

  onQuitRequested(listener: (options: QuitOptions) => void): void {
    this.quitListeners.push(listener)
  }

  onQueuedSubmit(handler: QueuedSubmit): void {
    this.queuedSubmit = handler
    this.post({ type: 'forward-queued' })
  }

  followClusterLogs(listener: (logs: { id: string; lines: LogLine[] }[]) => void): void {
    this.clusterLogs = listener
    this.post({ type: 'follow-cluster-logs' })
  }

  /** Told when the engine thread is blocked, answers again, or died and was restarted (the host may log it). */
  onNotice(listener: (notice: string) => void): void {
    this.noticeListeners.push(listener)
  }

  /**
   * Runs the engine's shutdown sequence, then ends the engine thread and every process it had
   * started. A blocked engine (or one past its grace plus a margin) is ended without waiting.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.runShutdown(options)
    return this.shutdownPromise
  }

  private async runShutdown(options: ShutdownOptions): Promise<ShutdownReport> {
    const started = Date.now()
    let report: ShutdownReport | null = null
    let failure: unknown = null
    if (!this.blocked) {
      const graceMs = options.graceMs ?? this.options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS
      let timer: NodeJS.Timeout | undefined
      const overdue = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs + SHUTDOWN_MARGIN_MS)))
      try {
        // A block found meanwhile rejects the call (engine-blocked): the thread is ended below.
        report = await Promise.race([this.call<ShutdownReport>('shutdown', options), overdue])
      } catch (e) {
        if (!(e instanceof TaskloopError && e.code === 'engine-blocked')) failure = e
      } finally {
        clearTimeout(timer)
      }
    }
    const blocked = this.blocked
    this.stopWatching()
    clearInterval(this.watchdog)
    this.hostLag.disable()
    await this.worker.terminate()
    this.killChildren()
    // Stored for the next start: a task that blocked the engine at shutdown must not block the next one.
    if (blocked) this.record(this.blame(blocked, 'shutdown'))
    this.lock?.release()
    const stuck = blocked?.tasks.map((t) => t.taskId) ?? []
    if (report) return report
    if (failure) throw failure
    return { cancelledPending: 0, keptPending: 0, stoppedCooperatively: 0, forced: stuck, durationMs: Date.now() - started }
  }

  escalate(): void {
    if (!this.shutdownPromise) void this.shutdown({ graceMs: 0 })
    else this.post({ type: 'escalate' })
  }

  private spawn(): void {
    const shared = createShared()
    // The store is reset at most once, at the first start, never by a restart.
    const options = this.started ? { ...this.options, resetStore: false } : this.options
    const worker = new Worker(engineThreadEntry, {
      workerData: { options, shared } satisfies EngineThreadData,
      name: 'taskloop-engine',
    })
    this.worker = worker
    this.shared = new SharedReader(shared)
    this.culprit = null
    this.last = null
    let markReady!: () => void
    let failReady!: (e: unknown) => void
    this.ready = new Promise((res, rej) => {
      markReady = res
      failReady = rej
    })
    this.ready.catch(() => {}) // observed by startEngineThread or a restart
    // The new thread's packer starts from nothing: so does its unpacker.
    let unpacker = new EventUnpacker()
    worker.on('message', (m: FromEngine) => {
      switch (m.type) {
        case 'ready':
          this.beat = { value: this.shared.heartbeat(), at: Date.now() }
          this.watching = true
          this.started = true
          markReady()
          return
        case 'reply': {
          const p = this.pending.get(m.id)
          this.pending.delete(m.id)
          if (m.ok) p?.resolve(m.value)
          else p?.reject(TaskloopError.from(m.error))
          return
        }
        case 'batch': {
          const batch = timed('host: event parse', () => unpacker.unpack(m.text))
          if (m.extra) Object.assign(batch, m.extra)
          this.heard(batch)
          return
        }
        case 'batch-lost':
          unpacker = new EventUnpacker()
          return
        case 'log':
          this.logWatchers.get(m.watch)?.listener(m.lines)
          return
        case 'cluster-logs':
          this.clusterLogs?.(m.logs)
          return
        case 'child':
          if (m.alive) this.children.set(m.pid, { group: m.group, marker: m.marker })
          else this.children.delete(m.pid)
          return
        case 'culprit':
          this.culprit ??= m.id
          return
        case 'queued-submit': {
          const answer = this.queuedSubmit ? this.queuedSubmit(m.spec) : Promise.reject(new TaskloopError('internal', 'no cluster to submit to'))
          answer.then(
            (value) => this.post({ type: 'queued-reply', id: m.id, ok: true, value }),
            (e: unknown) => this.post({ type: 'queued-reply', id: m.id, ok: false, error: TaskloopError.from(e).toJSON() }),
          )
          return
        }
        case 'quit':
          if (this.quitListeners.length === 0) void this.shutdown(m.options)
          for (const l of this.quitListeners) l(m.options)
          return
      }
    })
    const died = (why: string, error?: Error) => {
      if (this.worker !== worker) return
      if (!this.started) {
        // The engine could not start at all (its store refused, say): the host's start fails with
        // that error, as it came (a StoreError keeps its problem); restarting would fail the same way.
        this.dead ??= new TaskloopError('internal', `the engine thread could not start: ${why}`)
        this.hostLag.disable()
        failReady(error ?? this.dead)
        return
      }
      failReady(new TaskloopError('internal', `the engine thread stopped: ${why}`))
      this.onDeath(why)
    }
    worker.on('error', (e) => died(e.message, e))
    worker.on('exit', (code) => died(`exit code ${code}`))
  }

  /** An event batch from the engine thread, to every subscriber (snapshots are fetched per subscriber). */
  private heard(e: EventBatch): void {
    this.last = { seq: e.seq, counters: e.counters }
    if (e.stats) e.stats.hostLag = this.lagFigures()
    timed('host: event fan-out (WebSocket included)', () => {
      for (const l of this.listeners) l(e)
    })
  }

  private onDeath(why: string): void {
    const blocked = this.blocked
    this.stopWatching()
    const error = new TaskloopError('internal', `the engine thread stopped: ${why}`)
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    this.killChildren()
    if (this.shutdownPromise) {
      this.dead = error
      return
    }
    const blamed = this.blame(blocked, why)
    // A death a task is blamed for cannot repeat (that task never runs again): only the others count.
    if (blamed.length === 0) {
      const now = Date.now()
      this.deaths = this.deaths.filter((t) => now - t < RESTART_WINDOW_MS)
      this.deaths.push(now)
      if (this.deaths.length > MAX_RESTARTS) {
        this.dead = new TaskloopError('internal', `the engine thread stopped ${this.deaths.length} times in a minute (last: ${why}); giving up`)
        this.hostLag.disable()
        clearInterval(this.watchdog)
        return
      }
    }
    const what = blocked
      ? `The engine thread was blocked for ${seconds(Date.now() - blocked.since)} s and was ended and restarted.`
      : `The engine thread stopped unexpectedly (${why}) and was restarted.`
    const who = blamed.map((b) => `Task ${b.id}: ${b.message}; it is failed and will not run again.`).join(' ')
    const rest = this.options.dataDir
      ? 'Other tasks that were running are marked interrupted; pending ones are queued again.'
      : 'Without a data folder the task history before the restart is lost.'
    const notice = [what, who, rest].filter(Boolean).join(' ')
    this.record(blamed)
    this.spawn()
    this.ready.then(
      () => {
        for (const [watch, w] of this.logWatchers) this.post({ type: 'watch-log', watch, id: w.id })
        if (this.queuedSubmit) this.post({ type: 'forward-queued' })
        if (this.clusterLogs) this.post({ type: 'follow-cluster-logs' })
        const subscribers = [...this.listeners]
        this.listeners.clear()
        for (const l of subscribers) this.join(l, { live: true }, notice)
        this.rejoin(notice)
        for (const l of this.noticeListeners) l(notice)
      },
      () => {},
    )
  }

  /**
   * Which tasks took the thread down: the loop tasks running while it was blocked; else the one
   * whose code threw or exited; else every loop task running then (one of them did it, and only
   * loop jobs run on this thread).
   */
  private blame(blocked: Blocked | null, why: string): Blame[] {
    if (blocked) {
      const s = seconds(Date.now() - blocked.since)
      const among = blocked.tasks.length > 1 ? ` (one of ${blocked.tasks.length} loop tasks running then; the engine cannot tell which)` : ''
      return blocked.tasks.map((t) => ({ id: t.taskId, message: `blocked the event loop for ${s} s${among}` }))
    }
    if (this.culprit !== null) return [{ id: this.culprit, message: `crashed the engine (${why})` }]
    const { entries } = this.shared.loopRuns()
    const among = entries.length > 1 ? `; one of ${entries.length} loop tasks running then` : ''
    return entries.map((t) => ({ id: t.taskId, message: `crashed the engine (${why}${among})` }))
  }

  /** The next engine start fails the blamed tasks (in the store): they never run again. */
  private record(blamed: Blame[]): void {
    if (!this.options.dataDir || blamed.length === 0) return
    try {
      addBlame(this.options.dataDir, blamed)
    } catch (e) {
      // The data folder is unusable: the engine reports that itself; the tasks may be retried.
      this.tell(`Could not record which task stopped the engine: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  /** Every few hundred ms: has the engine thread's event loop turned since the last look? */
  private watch(): void {
    if (!this.watching) return
    const value = this.shared.heartbeat()
    const now = Date.now()
    if (value !== this.beat.value) {
      this.beat = { value, at: now }
      if (this.blocked) {
        const s = seconds(now - this.blocked.since)
        if (this.blocked.killTimer) clearTimeout(this.blocked.killTimer)
        this.blocked = null
        this.tell(`The engine answers again (it was blocked for ${s} s).`)
        this.rejoin(undefined)
      }
      return
    }
    if (this.blocked || now - this.beat.at < this.blockedAfterMs) return
    const { entries } = this.shared.loopRuns()
    const blocked: Blocked = { since: this.beat.at, tasks: entries, killTimer: null }
    this.blocked = blocked
    const error = this.blockedError()
    // Calls already sent behind a blocking loop job will not be answered in time: they fail now, like
    // the ones to come. Behind the engine's own long work (a huge batch on a busy machine) they will
    // be: failing them would report a submission refused that the engine then accepts.
    if (entries.length > 0) {
      for (const p of this.pending.values()) p.reject(error)
      this.pending.clear()
    }
    this.tell(error.message)
    // Only a loop job can be ended for blocking; the engine's own long work is waited for.
    if (entries.length > 0) {
      const grace = Math.max(...entries.map((t) => t.killGraceMs ?? this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS))
      blocked.killTimer = setTimeout(() => {
        if (this.blocked === blocked) void this.worker.terminate()
      }, grace)
    }
  }

  private stopWatching(): void {
    this.watching = false
    if (this.blocked?.killTimer) clearTimeout(this.blocked.killTimer)
    this.blocked = null
  }

  private blockedError(): TaskloopError {
    const b = this.blocked!
    const s = seconds(Date.now() - b.since)
    const t = b.tasks
    const who =
      t.length === 1
        ? `loop task ${t[0]!.taskId} (${t[0]!.name})`
        : t.length > 1
          ? `one of the loop tasks ${t.map((x) => `${x.taskId} (${x.name})`).join(', ')}`
          : "the engine's own work (no loop task is running)"
    const next = t.length > 0 ? ' it is ended after its kill grace and the engine restarted' : ''
    return new TaskloopError('engine-blocked', `the engine is blocked: ${who} has kept its event loop busy for ${s} s;${next || ' waiting for it'}`)
  }

  /** A notice between event batches (the UI shows it as a banner); the host may log it too. */
  private tell(notice: string): void {
    const event: EngineEvent = { type: 'batch', seq: this.last?.seq ?? 0, tasks: [], counters: this.last?.counters ?? emptyCounters(), notice }
    for (const l of this.listeners) l(event)
    for (const l of this.noticeListeners) l(notice)
  }

  /** Joins a subscriber at a snapshot: batches posted before the reply are already in it. */
  private join(listener: (event: EngineEvent) => void, entry: { live: boolean }, notice: string | undefined): void {
    this.snapshot().then(
      (snap) => {
        if (!entry.live) return
        if (!this.last || snap.seq >= this.last.seq) this.last = { seq: snap.seq, counters: snap.counters }
        listener(notice ? { ...snap, notice } : snap)
        this.listeners.add(listener)
      },
      () => {
        if (entry.live) this.waiting.set(listener, entry)
      },
    )
  }

  private rejoin(notice: string | undefined): void {
    const waiting = [...this.waiting]
    this.waiting.clear()
    for (const [l, entry] of waiting) this.join(l, entry, notice)
  }

  /** The dead thread's processes have no owner left: end them (process groups whole). */
  private killChildren(): void {
    const markers = new Set<string>()
    for (const [pid, { group, marker }] of this.children) {
      try {
        process.kill(group ? -pid : pid, 'SIGKILL')
      } catch {
        // already gone
      }
      if (marker) markers.add(marker)
    }
    this.children.clear()
    // What left those groups (setsid, a double fork) still carries the commands' run markers.
    if (markers.size > 0) killMarked((t) => markers.has(t))
  }

  private lagFigures(): Stats['hostLag'] {
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - HOST_LAG_RESOLUTION_MS)
    return { p50: ms(this.hostLag.percentile(50)), p99: ms(this.hostLag.percentile(99)), max: ms(this.hostLag.max) }
  }

  private call<T>(method: CallName, ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead)
    if (this.blocked) return Promise.reject(this.blockedError())
    const id = ++this.nextId
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      timed('host: post calls to the engine', () => this.post({ type: 'call', id, method, args }))
    })
  }

  private post(m: ToEngine): void {
    if (!this.dead) this.worker.postMessage(m)
  }
}

const seconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(1)
