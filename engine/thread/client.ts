// The engine's proxy on the host thread (Electron main, `taskloop serve`/`run`): the same
// EngineHandle as the in-process Engine, over postMessage to the engine thread.
// It also supervises the thread: if the engine thread dies, a new one starts (recovering the
// tasks from the store), subscribers get a fresh snapshot with a notice, and what the dead
// thread had spawned is killed.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import type {
  BatchSnapshot,
  EngineEvent,
  HistoryQuery,
  Limits,
  ListQuery,
  LogLine,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskDetail,
  TaskSnapshot,
} from '../../common/types'
import { TaskloopError } from '../../common/types'
import engineThreadEntry from './engine-thread?modulePath'
import type { EngineHandle, EngineOptions, ShutdownReport } from '../handle'
import { StoreLock } from '../store-lock'
import type { CallName, EngineThreadData, FromEngine, ToEngine } from './protocol'

const HOST_LAG_RESOLUTION_MS = 10
/** More deaths than this within RESTART_WINDOW_MS and the engine stays down. */
const MAX_RESTARTS = 5
const RESTART_WINDOW_MS = 60_000

interface Pending {
  resolve(v: unknown): void
  reject(e: unknown): void
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

export class EngineClient implements EngineHandle {
  /** Resolves when the current engine thread is ready. */
  ready!: Promise<void>
  private worker!: Worker
  private nextId = 0
  private pending = new Map<number, Pending>()
  private listeners = new Set<(e: EngineEvent) => void>()
  private logWatchers = new Map<number, { id: string; listener: (lines: LogLine[]) => void }>()
  private quitListeners: (() => void)[] = []
  private restartListeners: ((notice: string) => void)[] = []
  private dead: TaskloopError | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private deaths: number[] = []
  /** The first engine thread became ready: from then on a dead thread is restarted. */
  private started = false
  /** Processes (pool children, command groups) the engine thread has alive, to kill if it dies. */
  private children = new Map<number, boolean>()
  /** The host thread's own event-loop delay, reported next to the engine thread's. */
  private readonly hostLag = monitorEventLoopDelay({ resolution: HOST_LAG_RESOLUTION_MS })

  constructor(
    private readonly options: EngineOptions,
    /** The data folder's lock, held by this process for its life (engine/store-lock.ts). */
    readonly lock: StoreLock | null = null,
  ) {
    this.hostLag.enable()
    this.spawn()
  }

  submit(spec: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    return this.call('submit', spec)
  }
  list(query?: ListQuery): Promise<TaskSnapshot[]> {
    return this.call('list', query)
  }
  history(query?: HistoryQuery): Promise<TaskSnapshot[]> {
    return this.call('history', query)
  }
  get(id: string): Promise<TaskDetail> {
    return this.call('get', id)
  }
  cancel(id: string): Promise<void> {
    return this.call('cancel', id)
  }
  retry(id: string): Promise<{ id: string }> {
    return this.call('retry', id)
  }
  cancelAll(): Promise<void> {
    return this.call('cancelAll')
  }
  async stats(): Promise<Stats> {
    return { ...(await this.call<Stats>('stats')), hostLag: this.lagFigures() }
  }
  batch(id: string): Promise<BatchSnapshot> {
    return this.call('batch', id)
  }
  pause(): Promise<void> {
    return this.call('pause')
  }
  resume(): Promise<void> {
    return this.call('resume')
  }
  setGroupLimit(group: string, limit: number | null): Promise<Record<string, number>> {
    return this.call('setGroupLimit', group, limit)
  }
  setLimits(limits: Partial<Limits>): Promise<Limits> {
    return this.call('setLimits', limits)
  }
  snapshot(): Promise<Snapshot> {
    return this.call('snapshot')
  }
  quit(): Promise<void> {
    return this.call('quit')
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    const entry = { live: true }
    this.join(listener, entry, undefined)
    return () => {
      entry.live = false
      this.listeners.delete(listener)
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

  onQuitRequested(listener: () => void): void {
    this.quitListeners.push(listener)
  }

  /** Told when the engine thread died and a new one took over (the host may log it). */
  onRestart(listener: (notice: string) => void): void {
    this.restartListeners.push(listener)
  }

  /** Runs the engine's shutdown sequence, then ends the engine thread. */
  shutdown(options: { graceMs?: number } = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.call<ShutdownReport>('shutdown', options).finally(() => {
      this.hostLag.disable()
      return this.worker.terminate().finally(() => this.lock?.release())
    })
    return this.shutdownPromise
  }

  escalate(): void {
    if (!this.shutdownPromise) void this.shutdown({ graceMs: 0 })
    else this.post({ type: 'escalate' })
  }

  private spawn(): void {
    // The store is reset at most once, at the first start, never by a restart.
    const options = this.started ? { ...this.options, resetStore: false } : this.options
    const worker = new Worker(engineThreadEntry, {
      workerData: { options } satisfies EngineThreadData,
      name: 'taskloop-engine',
    })
    this.worker = worker
    let markReady!: () => void
    let failReady!: (e: unknown) => void
    this.ready = new Promise((res, rej) => {
      markReady = res
      failReady = rej
    })
    this.ready.catch(() => {}) // observed by startEngineThread or a restart
    worker.on('message', (m: FromEngine) => {
      switch (m.type) {
        case 'ready':
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
        case 'event': {
          // Snapshots are fetched per subscriber; the stream carries the batches.
          const e = m.event
          if (e.type !== 'batch') return
          if (e.stats) e.stats.hostLag = this.lagFigures()
          for (const l of this.listeners) l(e)
          return
        }
        case 'log':
          this.logWatchers.get(m.watch)?.listener(m.lines)
          return
        case 'child':
          if (m.alive) this.children.set(m.pid, m.group)
          else this.children.delete(m.pid)
          return
        case 'quit':
          if (this.quitListeners.length === 0) void this.shutdown()
          for (const l of this.quitListeners) l()
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

  private onDeath(why: string): void {
    const error = new TaskloopError('internal', `the engine thread stopped: ${why}`)
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    this.killChildren()
    if (this.shutdownPromise) {
      this.dead = error
      return
    }
    const now = Date.now()
    this.deaths = this.deaths.filter((t) => now - t < RESTART_WINDOW_MS)
    this.deaths.push(now)
    if (this.deaths.length > MAX_RESTARTS) {
      this.dead = new TaskloopError('internal', `the engine thread stopped ${this.deaths.length} times in a minute (last: ${why}); giving up`)
      this.hostLag.disable()
      return
    }
    const notice = `The engine thread stopped unexpectedly (${why}) and was restarted. ${
      this.options.dataDir
        ? 'Tasks that were running are marked interrupted; pending ones are queued again.'
        : 'Without a data folder the task history before the restart is lost.'
    }`
    this.spawn()
    this.ready.then(
      () => {
        for (const [watch, w] of this.logWatchers) this.post({ type: 'watch-log', watch, id: w.id })
        const subscribers = [...this.listeners]
        this.listeners.clear()
        for (const l of subscribers) this.join(l, { live: true }, notice)
        for (const l of this.restartListeners) l(notice)
      },
      () => {},
    )
  }

  /** Joins a subscriber at a snapshot: batches posted before the reply are already in it. */
  private join(listener: (event: EngineEvent) => void, entry: { live: boolean }, notice: string | undefined): void {
    this.snapshot().then(
      (snap) => {
        if (!entry.live) return
        listener(notice ? { ...snap, notice } : snap)
        this.listeners.add(listener)
      },
      () => {},
    )
  }

  /** The dead thread's processes have no owner left: end them (process groups whole). */
  private killChildren(): void {
    for (const [pid, group] of this.children) {
      try {
        process.kill(group ? -pid : pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    this.children.clear()
  }

  private lagFigures(): Stats['hostLag'] {
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - HOST_LAG_RESOLUTION_MS)
    return { p50: ms(this.hostLag.percentile(50)), p99: ms(this.hostLag.percentile(99)), max: ms(this.hostLag.max) }
  }

  private call<T>(method: CallName, ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead)
    const id = ++this.nextId
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.post({ type: 'call', id, method, args })
    })
  }

  private post(m: ToEngine): void {
    if (!this.dead) this.worker.postMessage(m)
  }
}
