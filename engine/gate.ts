// A counting gate (a semaphore, like asyncio's): at most `limit` tasks past it at once.
// Batches and groups each own one; a task passes its gates in order before it is queued on its executor.
import type { Task } from './task'

export class Gate {
  /** Tasks past the gate and not yet finished. */
  readonly active = new Set<Task>()
  private waiting: Task[] = []

  constructor(public limit: number) {}

  get waitingCount(): number {
    return this.waiting.length
  }

  /** Lets the task through now (true) or holds it until a place frees up (false). */
  enter(task: Task): boolean {
    if (this.active.size < this.limit) {
      this.active.add(task)
      return true
    }
    this.waiting.push(task)
    return false
  }

  /** Frees the task's place; returns the held tasks that may now go through. */
  leave(task: Task): Task[] {
    this.active.delete(task)
    return this.admit()
  }

  /** After a limit change, or a place freed: the held tasks that may now go through. */
  admit(): Task[] {
    const out: Task[] = []
    while (this.active.size < this.limit && this.waiting.length > 0) {
      const t = this.waiting.shift()!
      if (t.state !== 'pending') continue // cancelled while held
      this.active.add(t)
      out.push(t)
    }
    return out
  }
}
