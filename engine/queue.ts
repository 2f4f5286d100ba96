// The pending queue of one executor: highest priority first, FIFO among equals.
// A binary heap, beside a plain FIFO for what most tasks are (priority 0, queued in seq order):
// those go in and out in O(1), without sifting through the heap. Cancelled entries are skipped
// lazily on pop, so cancel is O(1).
import type { Task } from './task'

const before = (a: Task, b: Task): boolean => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)

export class TaskQueue {
  private heap: Task[] = []
  /** Priority 0 tasks in increasing seq from `head` on (a retried task's older seq goes to the heap). */
  private fifo: Task[] = []
  private head = 0

  get size(): number {
    return this.heap.length + this.fifo.length - this.head
  }

  push(task: Task): void {
    const fifo = this.fifo
    if (task.priority === 0 && (fifo.length === this.head || fifo[fifo.length - 1]!.seq < task.seq)) {
      fifo.push(task)
      return
    }
    const h = this.heap
    h.push(task)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  /** Every task still pending in the queue, in no particular order. */
  forEach(fn: (task: Task) => void): void {
    for (const t of this.heap) if (t.state === 'pending') fn(t)
    for (let i = this.head; i < this.fifo.length; i++) if (this.fifo[i]!.state === 'pending') fn(this.fifo[i]!)
  }

  /** Next task still pending, or undefined. */
  pop(): Task | undefined {
    for (;;) {
      const top = this.take()
      if (top === undefined || top.state === 'pending') return top
    }
  }

  /** The first of the heap's top and the FIFO's head. */
  private take(): Task | undefined {
    const fifo = this.fifo
    if (this.head < fifo.length) {
      const first = fifo[this.head]!
      if (this.heap.length === 0 || before(first, this.heap[0]!)) {
        fifo[this.head++] = undefined as unknown as Task
        if (this.head === fifo.length) {
          fifo.length = 0
          this.head = 0
        } else if (this.head >= 1024 && this.head * 2 >= fifo.length) {
          // Drop the taken half at once: O(1) per pop over time, and the array does not keep growing.
          this.fifo = fifo.slice(this.head)
          this.head = 0
        }
        return first
      }
    }
    return this.takeHeap()
  }

  private takeHeap(): Task | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}
