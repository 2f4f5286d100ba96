// Named queues between running jobs (ctx.queue; asyncio.Queue, multiprocessing.Queue): the engine
// holds the items, so a producer on a process and a consumer on a thread share one. A bounded
// queue makes `put` wait for room (backpressure); getters and putters are served FIFO; `join`
// waits until every item put has been marked with `taskDone`.
import type { QueueStat } from '../common/types'
import { park, type Parked } from './parked'

interface Putter extends Parked<void> {
  item: unknown
}

class NamedQueue {
  readonly items: unknown[] = []
  readonly getters: Parked<unknown>[] = []
  readonly putters: Putter[] = []
  readonly joiners: Parked<void>[] = []
  /** Items put and not yet marked done. */
  unfinished = 0
  constructor(readonly maxSize: number) {}

  get full(): boolean {
    return this.maxSize > 0 && this.items.length >= this.maxSize
  }
  get idle(): boolean {
    return this.items.length === 0 && this.getters.length === 0 && this.putters.length === 0 && this.joiners.length === 0 && this.unfinished === 0
  }
}

export class Queues {
  private readonly byName = new Map<string, NamedQueue>()

  /** The queue's size is fixed by whoever opens it first (until it is idle and forgotten). */
  private open(name: string, maxSize = 0): NamedQueue {
    let q = this.byName.get(name)
    if (!q) this.byName.set(name, (q = new NamedQueue(maxSize)))
    return q
  }

  async put(name: string, maxSize: number | undefined, item: unknown, taskId: string, signal: AbortSignal): Promise<void> {
    const q = this.open(name, maxSize)
    if (q.full || q.putters.length > 0) await park(q.putters, { taskId, item }, signal, () => this.forgetIdle(name, q))
    else this.accept(q, item)
  }

  async get(name: string, maxSize: number | undefined, taskId: string, signal: AbortSignal): Promise<unknown> {
    const q = this.open(name, maxSize)
    if (q.items.length === 0) return park(q.getters, { taskId }, signal, () => this.forgetIdle(name, q))
    const item = q.items.shift()
    this.admitPutter(q)
    this.forgetIdle(name, q)
    return item
  }

  taskDone(name: string, maxSize: number | undefined): void {
    const q = this.open(name, maxSize)
    if (q.unfinished === 0) {
      this.forgetIdle(name, q)
      throw new Error(`queue "${name}": taskDone() called more times than items were put`)
    }
    if (--q.unfinished === 0) for (const j of q.joiners.splice(0)) j.serve()
    this.forgetIdle(name, q)
  }

  async join(name: string, maxSize: number | undefined, taskId: string, signal: AbortSignal): Promise<void> {
    const q = this.open(name, maxSize)
    if (q.unfinished === 0) return this.forgetIdle(name, q)
    await park(q.joiners, { taskId }, signal, () => this.forgetIdle(name, q))
  }

  size(name: string): number {
    return this.byName.get(name)?.items.length ?? 0
  }

  stats(): QueueStat[] {
    return [...this.byName].map(([name, q]) => ({
      name,
      size: q.items.length,
      maxSize: q.maxSize,
      getters: q.getters.length,
      putters: q.putters.length,
      unfinished: q.unfinished,
    }))
  }

  /** An item enters: straight to the first waiting getter, else into the queue. */
  private accept(q: NamedQueue, item: unknown): void {
    q.unfinished++
    const getter = q.getters.shift()
    if (getter) getter.serve(item)
    else q.items.push(item)
  }

  /** Room was made: the first waiting putter's item goes in. */
  private admitPutter(q: NamedQueue): void {
    while (!q.full && q.putters.length > 0) {
      const p = q.putters.shift()!
      this.accept(q, p.item)
      p.serve()
    }
  }

  /** A queue nobody uses is forgotten, so names do not pile up; its next use opens it afresh. */
  private forgetIdle(name: string, q: NamedQueue): void {
    if (q.idle && this.byName.get(name) === q) this.byName.delete(name)
  }
}
