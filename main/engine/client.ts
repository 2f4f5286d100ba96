// The engine's proxy on the host thread (Electron main, `taskloop serve`/`run`): the same
// EngineHandle as the in-process Engine, over postMessage to the engine thread.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import type { BatchSnapshot, EngineEvent, Limits, ListQuery, LogLine, Snapshot, Stats, SubmitSpec, TaskDetail, TaskSnapshot } from '../../common/types'
import { TaskloopError } from '../../common/types'
import engineThreadEntry from './engine-thread?modulePath'
import type { EngineHandle, EngineOptions, ShutdownReport } from './handle'
import type { CallName, EngineThreadData, FromEngine, ToEngine } from './thread-protocol'

const HOST_LAG_RESOLUTION_MS = 10

interface Pending {
  resolve(v: unknown): void
  reject(e: unknown): void
}

export async function startEngineThread(options: EngineOptions = {}): Promise<EngineClient> {
  const worker = new Worker(engineThreadEntry, { workerData: { options } satisfies EngineThreadData, name: 'taskloop-engine' })
  const client = new EngineClient(worker)
  await client.ready
  return client
}

export class EngineClient implements EngineHandle {
  readonly ready: Promise<void>
  private nextId = 0
  private pending = new Map<number, Pending>()
  private listeners = new Set<(e: EngineEvent) => void>()
  private logWatchers = new Map<number, (lines: LogLine[]) => void>()
  private quitListeners: (() => void)[] = []
  private dead: TaskloopError | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  /** The host thread's own event-loop delay, reported next to the engine thread's. */
  private readonly hostLag = monitorEventLoopDelay({ resolution: HOST_LAG_RESOLUTION_MS })

  constructor(private readonly worker: Worker) {
    let markReady!: () => void
    let failReady!: (e: unknown) => void
    this.ready = new Promise((res, rej) => {
      markReady = res
      failReady = rej
    })
    this.hostLag.enable()
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
          this.logWatchers.get(m.watch)?.(m.lines)
          return
        case 'quit':
          if (this.quitListeners.length === 0) void this.shutdown()
          for (const l of this.quitListeners) l()
          return
      }
    })
    const die = (why: string) => {
      this.hostLag.disable()
      this.dead ??= new TaskloopError('internal', `the engine thread stopped: ${why}`)
      failReady(this.dead)
      for (const p of this.pending.values()) p.reject(this.dead)
      this.pending.clear()
    }
    worker.on('error', (e) => die(e.message))
    worker.on('exit', (code) => die(`exit code ${code}`))
  }

  submit(spec: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    return this.call('submit', spec)
  }
  list(query?: ListQuery): Promise<TaskSnapshot[]> {
    return this.call('list', query)
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
    let live = true
    // Messages from the thread arrive in order: batches posted before the snapshot's reply are
    // already in it, and every later batch has a higher seq, so the listener joins at the reply.
    this.snapshot().then(
      (snap) => {
        if (!live) return
        listener(snap)
        this.listeners.add(listener)
      },
      () => {},
    )
    return () => {
      live = false
      this.listeners.delete(listener)
    }
  }

  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    const watch = ++this.nextId
    this.logWatchers.set(watch, listener)
    this.post({ type: 'watch-log', watch, id })
    return () => {
      this.logWatchers.delete(watch)
      this.post({ type: 'unwatch-log', watch })
    }
  }

  onQuitRequested(listener: () => void): void {
    this.quitListeners.push(listener)
  }

  /** Runs the engine's shutdown sequence, then ends the engine thread. */
  shutdown(options: { graceMs?: number } = {}): Promise<ShutdownReport> {
    this.shutdownPromise ??= this.call<ShutdownReport>('shutdown', options).finally(() => this.worker.terminate())
    return this.shutdownPromise
  }

  escalate(): void {
    if (!this.shutdownPromise) void this.shutdown({ graceMs: 0 })
    else this.post({ type: 'escalate' })
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
