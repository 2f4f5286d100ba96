// The engine's picture outside the engine: a snapshot, then event batches in seq order. The
// renderer's store, `taskloop run` and each WebSocket session of the server all hear the same
// stream (TaskloopApi.subscribe: a snapshot first, then batches) and keep it in order the same way:
//   - SeqGate: the ordering alone. Drops what the last snapshot already holds, holds batches while
//     a fresh snapshot is fetched (so none overtakes it), and reports a gap in seq.
//   - Mirror: a SeqGate plus the tasks by id, the counters and the limits, with one resync at a
//     time on a gap. The server's sessions forward events instead of keeping tasks, so they use
//     the gate alone (see server/events.ts).
// Plain TypeScript and cheap per batch: maps updated in place, no copy of the picture per batch.
import type { Counters, EngineEvent, EventBatch, Limits, ShutdownStatus, Snapshot, TaskSnapshot } from './types'
import { emptyCounters } from './types'

/**
 * Passes engine events on in seq order. A snapshot starts over: the engine sends one to a new
 * subscriber and after its thread was restarted (its seq starts again), and a fetched one is what
 * was asked for. A batch goes on when it is the next seq; one at or below the last seq is already
 * in the picture; one beyond it means something was missed.
 */
export class SeqGate {
  private last: number | null = null
  /** Batches heard while a snapshot is being fetched; null when none is. */
  private held: EventBatch[] | null = null

  constructor(private readonly pass: (event: EngineEvent) => void) {}

  /** seq of the last event passed on; null before the first snapshot. */
  get seq(): number | null {
    return this.last
  }

  /** A snapshot is being fetched. */
  get holding(): boolean {
    return this.held !== null
  }

  /**
   * One event of the stream. Returns false when a batch skips seqs: it was not passed on, and
   * only a fresh snapshot mends the picture.
   */
  push(event: EngineEvent): boolean {
    if (this.held) {
      // The fetched snapshot supersedes a snapshot heard meanwhile (the same picture, or older).
      if (event.type === 'batch') this.held.push(event)
      return true
    }
    if (event.type === 'snapshot') {
      this.last = event.seq
      this.pass(event)
      return true
    }
    if (this.last === null) return true
    if (event.seq <= this.last) {
      // A supervisor's notice (the engine thread was restarted or is blocked) repeats the last seq
      // and changes no task: news all the same.
      if (event.notice !== undefined && event.tasks.length === 0) this.pass(event)
      return true
    }
    if (event.seq !== this.last + 1) return false
    this.last = event.seq
    this.pass(event)
    return true
  }

  /** A snapshot is about to be fetched: hold batches until it comes (fetched) or does not (release). */
  hold(): void {
    this.held ??= []
  }

  /**
   * The fetched snapshot: passed on, then the held batches it does not already hold. Returns false
   * when those skip seqs (a fresh snapshot is needed again).
   */
  fetched(snapshot: Snapshot): boolean {
    const held = this.held ?? []
    this.held = null
    this.push(snapshot)
    let ok = true
    for (const batch of held) ok = this.push(batch) && ok
    return ok
  }

  /** The fetch failed: drop what was held (a later batch shows the gap again). */
  release(): void {
    this.held = null
  }
}

/** What an applied event changed, for the mirror's listeners. */
export interface MirrorChange {
  event: EngineEvent
  /** Ids of the tasks the batch changed (new ones included); null when the picture is to be taken as new: a snapshot replaced it, or a batch dropped forgotten tasks. */
  changed: readonly string[] | null
  /** Ids of the tasks new in this batch, in creation order. */
  added: readonly string[]
}

export interface MirrorOptions {
  /** Fetches a fresh snapshot: after a gap in seq, or when the engine forgot tasks. */
  snapshot: () => Promise<Snapshot>
  /** A resync failed; the picture stays as it was until the next gap asks again. */
  onError?: (error: unknown) => void
  /**
   * Keep the tasks the engine has forgotten (it keeps only the newest finished ones live):
   * `taskloop run` reports every task of its run. Otherwise the mirror follows the engine: when
   * the counters count fewer tasks than it holds, it takes a fresh snapshot.
   */
  keepForgotten?: boolean
}

/**
 * Creation order. The engine lists tasks in the order it created them, and many share a
 * millisecond: a stable sort on the time alone keeps its order for those (ids do not sort).
 */
const byCreation = (a: TaskSnapshot, b: TaskSnapshot): number => a.createdAt - b.createdAt

const NO_IDS: readonly string[] = []

export class Mirror {
  /** The latest snapshot of each task. The same Map for the mirror's life: cleared on a snapshot. */
  readonly tasks = new Map<string, TaskSnapshot>()
  /**
   * Each task's rank in creation order (the tie-break of every sort): its position in `order` as of
   * the last snapshot, and for the tasks added since, the next numbers. Only their order means
   * anything: dropping forgotten tasks leaves the others' ranks as they are (rewriting every rank
   * each time the engine forgot a few thousand tasks cost the server's host thread more than
   * rebuilding the tasks it was sent).
   */
  readonly rank = new Map<string, number>()
  /** The rank of the next task added. */
  private nextRank = 0
  /** Task ids, oldest first. Appended to in place by batches, replaced by a snapshot. */
  order: string[] = []
  counters: Counters = emptyCounters()
  limits: Limits | null = null
  shutdown: ShutdownStatus | null = null

  private readonly gate = new SeqGate((event) => (event.type === 'snapshot' ? this.applySnapshot(event) : this.applyBatch(event)))
  private readonly listeners = new Set<(change: MirrorChange) => void>()

  constructor(private readonly options: MirrorOptions) {}

  /** seq of the last applied snapshot or batch; null before the first snapshot. */
  get seq(): number | null {
    return this.gate.seq
  }

  /** A fresh snapshot is on its way; batches wait for it. */
  get resyncing(): boolean {
    return this.gate.holding
  }

  /** Hears every applied snapshot and batch. Returns the unsubscribe function. */
  onChange(listener: (change: MirrorChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** One event of the engine's stream (TaskloopApi.subscribe). */
  push(event: EngineEvent): void {
    if (!this.gate.push(event)) this.resync()
  }

  /** Replaces the picture with a fresh snapshot; one at a time, batches heard meanwhile wait for it. */
  resync(): void {
    if (this.gate.holding) return
    this.gate.hold()
    this.options.snapshot().then(
      (snapshot) => {
        if (!this.gate.fetched(snapshot)) this.resync()
      },
      (e: unknown) => {
        this.gate.release()
        this.options.onError?.(e)
      },
    )
  }

  private applySnapshot(snapshot: Snapshot): void {
    const { tasks, rank } = this
    tasks.clear()
    rank.clear()
    const sorted = [...snapshot.tasks].sort(byCreation)
    const order = new Array<string>(sorted.length)
    for (let i = 0; i < sorted.length; i++) {
      const t = sorted[i]!
      tasks.set(t.id, t)
      rank.set(t.id, i)
      order[i] = t.id
    }
    this.order = order
    this.nextRank = order.length
    this.counters = snapshot.counters
    this.limits = snapshot.limits
    this.shutdown = snapshot.shutdown
    this.notify({ event: snapshot, changed: null, added: NO_IDS })
  }

  private applyBatch(batch: EventBatch): void {
    const { tasks, rank, order } = this
    const list = batch.tasks
    const changed = new Array<string>(list.length)
    let added: TaskSnapshot[] | null = null
    /** The new tasks came in creation order (the engine lists them so): the Map's order is already right. */
    let sorted = true
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!
      const id = t.id
      changed[i] = id
      // One lookup: a task new to the map is the one that grows it.
      const size = tasks.size
      tasks.set(id, t)
      if (tasks.size === size) continue
      if (added === null) added = [t]
      else {
        if (t.createdAt < added[added.length - 1]!.createdAt) sorted = false
        added.push(t)
      }
    }
    let addedIds = NO_IDS
    if (added) {
      // New tasks join in creation order, so the Map's order is creation order too.
      if (!sorted) {
        added.sort(byCreation)
        for (const t of added) tasks.delete(t.id)
        for (const t of added) tasks.set(t.id, t)
      }
      const ids = new Array<string>(added.length)
      for (let i = 0; i < added.length; i++) {
        const t = added[i]!
        rank.set(t.id, this.nextRank++)
        order.push(t.id)
        ids[i] = t.id
      }
      addedIds = ids
    }
    this.counters = batch.counters
    if (batch.limits) this.limits = batch.limits
    if (batch.shutdown !== undefined) this.shutdown = batch.shutdown
    // Tasks the engine let go of: dropped here too, and the listeners take the picture as new (as
    // after a snapshot), since rows went. A keepForgotten mirror holds them.
    if (batch.forgot && batch.forgot.length > 0 && !this.options.keepForgotten && this.drop(batch.forgot)) {
      this.notify({ event: batch, changed: null, added: addedIds })
    } else this.notify({ event: batch, changed, added: addedIds })
    if (this.options.keepForgotten) return
    // The counters count every task the engine keeps live. Fewer than we hold: it has forgotten old
    // finished ones (history() pages them), so take its picture.
    const c = batch.counters
    if (c.pending + c.running + c.cancelling + c.done + c.failed + c.cancelled < tasks.size) this.resync()
  }

  /** Removes these tasks; false when it held none of them. */
  private drop(ids: readonly string[]): boolean {
    const { tasks, rank } = this
    let dropped = 0
    for (const id of ids) {
      if (!tasks.delete(id)) continue
      rank.delete(id)
      dropped++
    }
    if (dropped === 0) return false
    // A new array, as a snapshot makes: whoever holds the old one sees it replaced.
    const old = this.order
    // The engine forgets the tasks that finished first: mostly the oldest, a prefix of the order.
    let start = 0
    while (start < old.length && !rank.has(old[start]!)) start++
    if (start === dropped) {
      this.order = old.slice(start)
      return true
    }
    const order = new Array<string>(old.length - dropped)
    let n = 0
    for (let i = start; i < old.length; i++) {
      const id = old[i]!
      if (rank.has(id)) order[n++] = id
    }
    this.order = order
    return true
  }

  private notify(change: MirrorChange): void {
    for (const l of this.listeners) l(change)
  }
}
