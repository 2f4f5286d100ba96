// What the engine forgets, so a long-running engine stays bounded: finished tasks beyond
// keepInMemory leave its memory (they stay in the store, as history), and with a retention
// policy the store itself drops old finished tasks, now and every minute.
import type { Scheduler } from './scheduler'
import type { Retention, TaskStore } from './store'
import type { Task } from './task'
import type { TaskLogs } from './task-log'

const PRUNE_EVERY_MS = 60_000

export interface HistoryBoundOptions {
  keepInMemory: number
  scheduler: Scheduler
  logs: TaskLogs
  store: TaskStore | null
  retention: Retention | undefined
  /** Hears the ids of the tasks let go of from memory (the event stream's `forgot`). */
  forgot: (ids: readonly string[]) => void
}

export class HistoryBound {
  /** Finished tasks in the order they finished. */
  private finishedOrder: Task[] = []
  private pruneTimer: NodeJS.Timeout | null = null

  constructor(private readonly o: HistoryBoundOptions) {}

  /** Tasks restored from the store in a final state, oldest first. */
  restored(tasks: Task[]): void {
    for (const t of tasks) this.finishedOrder.push(t)
  }

  finished(task: Task): void {
    const keep = this.o.keepInMemory
    // Nothing is ever forgotten by count: no need to remember the order.
    if (keep === Infinity) return
    this.finishedOrder.push(task)
    // Forget in steps of 10%, so the bound costs O(1) per task.
    if (this.finishedOrder.length > keep + Math.max(1, keep / 10)) {
      const old = this.finishedOrder.splice(0, this.finishedOrder.length - keep).filter((x) => x.final)
      this.forget(old.map((x) => x.id))
    }
  }

  /** Applies the store's retention policy now and every minute (nothing without a store or a policy). */
  start(): void {
    if (!this.o.store || !this.o.retention) return
    this.prune()
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS)
    this.pruneTimer.unref()
  }

  stop(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer)
  }

  private prune(): void {
    if (!this.o.store || !this.o.retention) return
    this.forget(this.o.store.prune(this.o.retention))
  }

  private forget(ids: string[]): void {
    // Told only of those still in memory: the store's retention also names tasks forgotten long ago.
    const gone = this.o.scheduler.forget(ids)
    this.o.logs.forget(ids)
    this.o.forgot(gone)
  }
}
