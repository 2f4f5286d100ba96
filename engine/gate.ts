// A counting gate (a semaphore, like asyncio's): at most `limit` tasks past it at once.
// Batches and groups each own one; a task passes its gates in order before it is queued on its executor.
// Held tasks go through in the executor queue's order: highest priority first, FIFO among equals.
import type { Waiting } from '../common/types'
import { TaskQueue } from './queue'
import type { Task } from './task'

export class Gate {
  /** Tasks past the gate and not yet finished. */
  readonly active = new Set<Task>()
  private readonly waiting = new TaskQueue()

  /** `holds`: what a task held here waits for, as its snapshot says. */
  constructor(
    public limit: number,
    readonly holds: Waiting,
  ) {}

  /** Held tasks (cancelled ones leave lazily, when they would have gone through). */
  get waitingCount(): number {
    return this.waiting.size
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
    while (this.active.size < this.limit) {
      const t = this.waiting.pop() // skips tasks cancelled while held
      if (!t) break
      this.active.add(t)
      out.push(t)
    }
    return out
  }
}
