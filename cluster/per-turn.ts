// Calls made in one turn of the event loop, sent on together: one round trip per turn, not per
// call (the jobs BullMQ hands a node in one turn: their cancel checks, their submits).

export class PerTurn<I, O> {
  private items: I[] = []
  private waiting: { resolve(out: O): void; reject(e: unknown): void }[] = []

  /** `send` answers each item, in order. */
  constructor(private readonly send: (items: I[]) => Promise<O[]>) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.items.push(item)
      this.waiting.push({ resolve, reject })
      if (this.items.length === 1) setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    const { items, waiting } = this
    this.items = []
    this.waiting = []
    this.send(items).then(
      (out) => waiting.forEach((w, i) => w.resolve(out[i]!)),
      (e: unknown) => waiting.forEach((w) => w.reject(e)),
    )
  }
}
