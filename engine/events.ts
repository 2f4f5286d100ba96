// Coalesces task changes into event batches ("event batch" in docs/ARCHITECTURE.md):
// at most one batch per interval (a stream's end may leave sooner: quiet), only the latest
// snapshot of each changed task, increasing seq.
// A change after a quiet interval leaves at once (a timer of 0, so the rest of its turn joins it):
// a lone task's end is heard in a millisecond, not after the interval; a stream is still one
// batch per interval. Its end (nothing left pending or running) leaves at once too (quiet).
import type { Counters, EngineEvent, EventBatch, Limits, ShutdownStatus, Stats, TaskSnapshot } from '../common/types'
import type { Task } from './task'

/** quiet() sends early at most once per this fraction of the interval. */
const QUIET_FRACTION = 5

export class EventBatcher {
  seq = 0
  /** Tasks changed since the last batch, each once (marked by Task.inEventBatch): cheaper than a Set. */
  private changed: Task[] = []
  private extra: Pick<EventBatch, 'limits' | 'shutdown' | 'stats' | 'forgot'> = {}
  private timer: NodeJS.Timeout | null = null
  /** When the last batch left (performance.now()); the next leaves an interval after it at the earliest. */
  private lastFlush = -Infinity
  private listeners = new Set<(e: EngineEvent) => void>()

  constructor(
    private readonly intervalMs: number,
    private readonly counters: () => Counters,
  ) {}

  get listenerCount(): number {
    return this.listeners.size
  }

  changedTask(task: Task): void {
    if (task.inEventBatch) return
    task.inEventBatch = true
    this.changed.push(task)
    this.schedule()
  }

  changedLimits(limits: Limits): void {
    this.extra.limits = { ...limits }
    this.schedule()
  }

  changedShutdown(status: ShutdownStatus | null): void {
    this.extra.shutdown = status && { ...status, draining: [...status.draining], forced: [...status.forced] }
    this.schedule()
  }

  /** Finished tasks the engine let go of (retention): subscribers drop them. */
  forgotTasks(ids: readonly string[]): void {
    if (ids.length === 0) return
    const list = (this.extra.forgot ??= [])
    for (const id of ids) list.push(id)
    this.schedule()
  }

  changedStats(stats: Stats): void {
    this.extra.stats = stats
    this.schedule()
  }

  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Emits what is pending now (also used before shutdown completes, so the last state reaches clients). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const changed = this.changed
    if (changed.length === 0 && Object.keys(this.extra).length === 0) return
    this.lastFlush = performance.now()
    this.changed = []
    const tasks: TaskSnapshot[] = []
    for (let i = 0; i < changed.length; i++) {
      const t = changed[i]!
      t.inEventBatch = false
      tasks.push(t.snapshot())
    }
    const batch: EventBatch = { type: 'batch', seq: ++this.seq, tasks, counters: this.counters(), ...this.extra }
    this.extra = {}
    for (const l of this.listeners) {
      try {
        l(batch)
      } catch {
        // A listener's failure is its own; the engine and other clients go on.
      }
    }
  }

  close(): void {
    this.flush()
    this.listeners.clear()
  }

  /**
   * Nothing is left pending or running (the last task of a stream ended): what waits leaves at the
   * end of this turn rather than at the end of the interval, so the last task of a batch is heard done
   * as soon as it is; a fifth of the interval after the last batch at the earliest, so tasks that
   * end one at a time still go at most a few batches per interval.
   */
  quiet(): void {
    if (this.timer === null) return
    clearTimeout(this.timer)
    const wait = this.lastFlush + this.intervalMs / QUIET_FRACTION - performance.now()
    this.timer = setTimeout(() => this.flush(), wait > 0 ? wait : 0)
  }

  private schedule(): void {
    if (this.timer !== null) return
    const wait = this.lastFlush + this.intervalMs - performance.now()
    this.timer = setTimeout(() => this.flush(), wait > 0 ? wait : 0)
  }
}
