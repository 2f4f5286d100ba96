// The engine's proxy on the host thread (Electron main, `taskloop serve`/`run`): the same
// EngineHandle as the in-process Engine, over postMessage to the engine thread.
// It also supervises the thread: if the engine thread dies, a new one starts (recovering the
// tasks from the store), subscribers get a fresh snapshot with a notice, and what the dead
// thread had spawned is killed.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { OPERATION_NAMES, type OperationMethods } from '../../common/operations'
import type { EngineEvent, LogLine, QuitOptions, Stats } from '../../common/types'
import { TaskloopError } from '../../common/types'
import engineThreadEntry from './engine-thread?modulePath'
import type { EngineHandle, EngineOptions, ShutdownOptions, ShutdownReport } from '../handle'
import { killMarked } from '../orphans'
import type { CallName, EngineThreadData, FromEngine, ToEngine } from './protocol'

const HOST_LAG_RESOLUTION_MS = 10
/** More deaths than this within RESTART_WINDOW_MS and the engine stays down. */
const MAX_RESTARTS = 5
const RESTART_WINDOW_MS = 60_000

interface Pending {
  resolve(v: unknown): void
  reject(e: unknown): void
}

export async function startEngineThread(options: EngineOptions = {}): Promise<EngineClient> {
  const client = new EngineClient(options)
  await client.ready
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
  private logWatchers = new Map<number, { id: string; listener: (lines: LogLine[]) => void }>()
  private quitListeners: ((options: QuitOptions) => void)[] = []
  private restartListeners: ((notice: string) => void)[] = []
  private dead: TaskloopError | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private deaths: number[] = []
  /** Processes (pool children, command groups) the engine thread has alive, to kill if it dies. */
  private children = new Map<number, { group: boolean; marker: string | undefined }>()
  /** The host thread's own event-loop delay, reported next to the engine thread's. */
  private readonly hostLag = monitorEventLoopDelay({ resolution: HOST_LAG_RESOLUTION_MS })

  constructor(private readonly options: EngineOptions) {
    this.hostLag.enable()
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
    return { ...(await this.call<Stats>('stats')), hostLag: this.lagFigures() }
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

  onQuitRequested(listener: (options: QuitOptions) => void): void {
    this.quitListeners.push(listener)
  }

  /** Told when the engine thread died and a new one took over (the host may log it). */
  onRestart(listener: (notice: string) => void): void {
    this.restartListeners.push(listener)
  }

  /** Runs the engine's shutdown sequence, then ends the engine thread. */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.call<ShutdownReport>('shutdown', options).finally(() => {
      this.hostLag.disable()
      return this.worker.terminate()
    })
    return this.shutdownPromise
  }

  escalate(): void {
    if (!this.shutdownPromise) void this.shutdown({ graceMs: 0 })
    else this.post({ type: 'escalate' })
  }

  private spawn(): void {
    const worker = new Worker(engineThreadEntry, {
      workerData: { options: this.options } satisfies EngineThreadData,
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
          if (m.alive) this.children.set(m.pid, { group: m.group, marker: m.marker })
          else this.children.delete(m.pid)
          return
        case 'quit':
          if (this.quitListeners.length === 0) void this.shutdown(m.options)
          for (const l of this.quitListeners) l(m.options)
          return
      }
    })
    const died = (why: string) => {
      if (this.worker !== worker) return
      failReady(new TaskloopError('internal', `the engine thread stopped: ${why}`))
      this.onDeath(why)
    }
    worker.on('error', (e) => died(e.message))
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
