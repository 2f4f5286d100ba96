// The pending queue of one executor: highest priority first, FIFO among equals.
// A binary heap; cancelled entries are skipped lazily on pop, so cancel is O(1).
import type { Task } from './task'

const before = (a: Task, b: Task): boolean => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)

export class TaskQueue {
  private heap: Task[] = []

  get size(): number {
    return this.heap.length
  }

  push(task: Task): void {
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
  }

  /** Next task still pending, or undefined. */
  pop(): Task | undefined {
    for (;;) {
      const top = this.take()
      if (top === undefined || top.state === 'pending') return top
    }
  }

  private take(): Task | undefined {
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
