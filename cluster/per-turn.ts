// Calls made in one turn of the event loop, sent on together: one round trip per turn, not per
// call (the jobs BullMQ hands a node in one turn: their cancel checks, their submits).

export interface PerTurnOptions {
  /**
   * When none of its sends is out, the first call goes at the end of the current microtasks, not
   * after the turn's other I/O callbacks (setImmediate): a lone call on an idle node does not wait
   * behind its sockets and subscriptions. Calls made while a send is out are gathered until the
   * end of the turn as always, so a busy node still sends about one per turn. Only for a send
   * that stays out for a round trip (else every call of a turn could go alone).
   */
  soonWhenIdle?: boolean
  /**
   * One send out at a time: calls made while one is out gather until it answers, then go as one
   * (a busy node sends about once per round trip, not once per turn; an idle one at once). Only
   * for a send that answers without waiting on later calls.
   */
  oneAtATime?: boolean
}

export class PerTurn<I, O> {
  private items: I[] = []
  private waiting: { resolve(out: O): void; reject(e: unknown): void }[] = []
  private out = 0

  /** `send` answers each item, in order. */
  constructor(
    private readonly send: (items: I[]) => Promise<O[]>,
    private readonly options: PerTurnOptions = {},
  ) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.items.push(item)
      this.waiting.push({ resolve, reject })
      if (this.items.length > 1) return
      if (this.options.oneAtATime && this.out > 0) return // sent when the one out answers (flush)
      if (this.options.soonWhenIdle && this.out === 0) queueMicrotask(() => this.flush())
      else setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    const { items, waiting } = this
    if (items.length === 0) return
    this.items = []
    this.waiting = []
    this.out++
    this.send(items)
      .finally(() => {
        this.out--
        if (this.options.oneAtATime && this.out === 0 && this.items.length > 0) this.flush()
      })
      .then(
        (out) => waiting.forEach((w, i) => w.resolve(out[i]!)),
        (e: unknown) => waiting.forEach((w) => w.reject(e)),
      )
  }
}
