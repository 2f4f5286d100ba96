// A counting gate (a semaphore, like asyncio's): at most `limit` tasks past it at once.
// Batches and groups each own one; a task passes its gates in order before it is queued on its executor.
// Held tasks go through in the executor queue's order: highest priority first, FIFO among equals.
import type { Waiting } from '../common/types'
import { TaskQueue } from './queue'
import type { Task } from './task'

/** What leave() gives when nothing is held: shared, never mutated. */
const NONE: readonly Task[] = []

export class Gate {
  /** Tasks past the gate and not yet finished (the scheduler leaves only with a task that entered). */
  active = 0
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
    if (this.active < this.limit) {
      this.active++
      return true
    }
    this.waiting.push(task)
    return false
  }

  /** Frees the place of a task that entered; returns the held tasks that may now go through. */
  leave(): readonly Task[] {
    this.active--
    return this.waiting.size === 0 ? NONE : this.admit()
  }

  /** After a limit change, or a place freed: the held tasks that may now go through. */
  admit(): Task[] {
    const out: Task[] = []
    while (this.active < this.limit) {
      const t = this.waiting.pop() // skips tasks cancelled while held
      if (!t) break
      this.active++
      out.push(t)
    }
    return out
  }
}
