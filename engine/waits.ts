// ctx.wait (asyncio.wait): a job waits for tasks until all are final, the first is, or the first
// fails, or until its timeout; it gets the tasks' snapshots split into done and pending.
import { TaskloopError, type ReturnWhen, type TaskSnapshot, type WaitResult } from '../common/types'
import { park, type Parked } from './parked'
import type { Task } from './task'

interface Waiter extends Parked<WaitResult> {
  ids: string[]
  returnWhen: ReturnWhen
}

export class Waits {
  /** Waiters by the task ids they watch. */
  private readonly watching = new Map<string, Waiter[]>()

  constructor(private readonly task: (id: string) => Task | undefined) {}

  async wait(ids: string[], returnWhen: ReturnWhen, timeoutMs: number | undefined, taskId: string, signal: AbortSignal): Promise<WaitResult> {
    const unknown = ids.find((id) => !this.task(id))
    if (unknown !== undefined) throw new TaskloopError('not-found', `ctx.wait: unknown task id "${unknown}"`, 'ids')
    const now = this.result(ids)
    if (this.satisfied(ids, returnWhen) || timeoutMs === 0) return now
    const list: Waiter[] = []
    const entry = { taskId, ids, returnWhen }
    const promise = park<WaitResult, typeof entry>(list, entry, signal, () => this.unwatch(waiter))
    if (signal.aborted) return promise
    const waiter = list[0]!
    const timer = timeoutMs === undefined ? null : setTimeout(() => this.serve(waiter), timeoutMs)
    for (const id of new Set(ids)) {
      const w = this.watching.get(id)
      if (w) w.push(waiter)
      else this.watching.set(id, [waiter])
    }
    return promise.finally(() => timer && clearTimeout(timer))
  }

  /** A task reached a final state: the waits it may complete are served. */
  finished(task: Task): void {
    const waiters = this.watching.get(task.id)
    if (!waiters) return
    for (const w of [...waiters]) if (this.satisfied(w.ids, w.returnWhen)) this.serve(w)
  }

  private serve(w: Waiter): void {
    this.unwatch(w)
    w.serve(this.result(w.ids))
  }

  private unwatch(w: Waiter): void {
    for (const id of new Set(w.ids)) {
      const list = this.watching.get(id)
      if (!list) continue
      const i = list.indexOf(w)
      if (i >= 0) list.splice(i, 1)
      if (list.length === 0) this.watching.delete(id)
    }
  }

  private satisfied(ids: string[], returnWhen: ReturnWhen): boolean {
    const tasks = ids.map((id) => this.task(id))
    // A task no longer known (pruned from memory) finished long ago.
    const final = (t: Task | undefined): boolean => !t || t.final
    if (returnWhen === 'all') return tasks.every(final)
    if (returnWhen === 'first') return tasks.some(final)
    // As asyncio's FIRST_EXCEPTION: a failure ends the wait; a cancelled task does not.
    return tasks.every(final) || tasks.some((t) => t?.state === 'failed')
  }

  private result(ids: string[]): WaitResult {
    const done: TaskSnapshot[] = []
    const pending: TaskSnapshot[] = []
    for (const id of ids) {
      const t = this.task(id)
      if (!t) continue
      ;(t.final ? done : pending).push(t.snapshot())
    }
    return { done, pending }
  }
}
