// Named mutexes between running jobs (ctx.lock; threading.Lock, multiprocessing.Lock): held by a
// task, waiters served FIFO. A task's locks are released when its run ends, however it ends
// (done, failed, cancelled, crashed, killed), so a dead holder never blocks the rest.
import type { LockStat } from '../common/types'
import { park, type Parked } from './parked'

interface NamedLock {
  holder: string
  waiters: Parked<void>[]
}

export class Locks {
  private readonly byName = new Map<string, NamedLock>()

  async acquire(name: string, taskId: string, signal: AbortSignal): Promise<void> {
    const lock = this.byName.get(name)
    if (!lock) {
      this.byName.set(name, { holder: taskId, waiters: [] })
      return
    }
    await park(lock.waiters, { taskId }, signal)
  }

  release(name: string, taskId: string): void {
    const lock = this.byName.get(name)
    if (!lock || lock.holder !== taskId) throw new Error(`lock "${name}" is not held by this task`)
    this.handOn(name, lock)
  }

  /** Every lock the task holds, released (its run ended). */
  releaseAll(taskId: string): void {
    if (this.byName.size === 0) return
    for (const [name, lock] of [...this.byName]) if (lock.holder === taskId) this.handOn(name, lock)
  }

  held(taskId: string): string[] {
    const out: string[] = []
    for (const [name, lock] of this.byName) if (lock.holder === taskId) out.push(name)
    return out
  }

  stats(): LockStat[] {
    return [...this.byName].map(([name, l]) => ({ name, holder: l.holder, waiters: l.waiters.map((w) => w.taskId) }))
  }

  private handOn(name: string, lock: NamedLock): void {
    const next = lock.waiters.shift()
    if (!next) return void this.byName.delete(name)
    lock.holder = next.taskId
    next.serve()
  }
}
