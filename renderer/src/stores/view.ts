// The table's view of the tasks: which ones match the filters and search, in which order.
// Built once when the query changes, then kept current by each batch's changed tasks:
// O(n + k log k) per batch (drop the k changed ids, merge them back where they now belong)
// instead of filtering and sorting all n tasks again. Plain TypeScript, no Vue: the table store (./table.ts) wraps it.
import type { ExecutorKind, TaskSnapshot, TaskState } from '../../../common/types'

export const SORT_KEYS = ['created', 'name', 'executor', 'state', 'progress', 'worker', 'node', 'queue', 'attempt', 'started', 'duration'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface Query {
  state: TaskState | ''
  executor: ExecutorKind | ''
  group: string
  /** A cluster node's id: its tasks only. */
  node: string
  /** Matched against id, name, params (or command) and error text, case-insensitive. */
  search: string
  sort: SortKey
  desc: boolean
}

export const defaultQuery = (): Query => ({ state: '', executor: '', group: '', node: '', search: '', sort: 'created', desc: true })

const STATE_ORDER: Record<TaskState, number> = { running: 0, cancelling: 1, pending: 2, failed: 3, cancelled: 4, done: 5 }

// Snapshots are replaced, never mutated, so a snapshot's text can be cached on the object itself.
const haystacks = new WeakMap<TaskSnapshot, string>()

/** What a search looks through: id, name, params (or the command), error message and stack, cluster node and queue. */
export function haystack(t: TaskSnapshot): string {
  let text = haystacks.get(t)
  if (text === undefined) {
    const spec = t.spec as { params?: unknown; command?: string; argv?: string[]; job?: string }
    const what = spec.params !== undefined ? JSON.stringify(spec.params) : (spec.command ?? spec.argv?.join(' ') ?? '')
    text = `${t.id}\n${t.name}\n${spec.job ?? ''}\n${what}\n${t.error?.message ?? ''}\n${t.error?.stack ?? ''}\n${t.node ?? ''}\n${t.queue ?? ''}`.toLowerCase()
    haystacks.set(t, text)
  }
  return text
}

export function matches(t: TaskSnapshot, q: Query, needle = q.search.trim().toLowerCase()): boolean {
  if (q.state && t.state !== q.state) return false
  if (q.executor && t.executor !== q.executor) return false
  if (q.group && t.group !== q.group) return false
  if (q.node && t.node !== q.node) return false
  return needle === '' || haystack(t).includes(needle)
}

type Key = (t: TaskSnapshot, now: number) => number | string

const KEYS: Record<Exclude<SortKey, 'created'>, Key> = {
  name: (t) => t.name.toLowerCase(),
  executor: (t) => t.executor,
  state: (t) => STATE_ORDER[t.state],
  progress: (t) => (t.state === 'done' ? 1 : (t.progress ?? -1)),
  worker: (t) => t.worker ?? '',
  node: (t) => t.node ?? '',
  queue: (t) => t.queue ?? '',
  attempt: (t) => t.attempt,
  started: (t) => t.startedAt ?? Number.MAX_SAFE_INTEGER,
  duration: (t, now) => (t.startedAt === null ? -1 : (t.endedAt ?? now) - t.startedAt),
}

export class TaskView {
  /** Matching ids in display order. Replaced (never mutated) when it changes. */
  ids: string[] = []
  private key = ''
  private dirty = new Set<string>()
  private added: string[] = []
  private reset = true

  constructor(
    private readonly tasks: Map<string, TaskSnapshot>,
    /** Position of each id in creation order: the tie-break of every sort. */
    private readonly rank: Map<string, number>,
    private readonly order: () => readonly string[],
  ) {}

  /** Tasks that changed (or appeared) since the view was last read. */
  changed(ids: Iterable<string>, added: readonly string[]): void {
    if (this.reset) return
    for (const id of ids) this.dirty.add(id)
    for (const id of added) this.added.push(id)
  }

  /** Everything changed (a new snapshot): rebuild on the next read. */
  invalidate(): void {
    this.reset = true
    this.dirty.clear()
    this.added = []
  }

  /** The view for this query, rebuilt or brought up to date; the same array when nothing moved. */
  read(q: Query, now = Date.now()): string[] {
    const key = `${q.state}\u0000${q.executor}\u0000${q.group}\u0000${q.node}\u0000${q.search.trim().toLowerCase()}\u0000${q.sort}\u0000${q.desc}`
    if (this.reset || key !== this.key) {
      this.key = key
      this.reset = false
      this.dirty.clear()
      this.added = []
      this.ids = this.rebuild(q, now)
    } else if (this.dirty.size > 0) {
      this.ids = this.update(q, now)
      this.dirty.clear()
      this.added = []
    }
    return this.ids
  }

  private compare(q: Query, now: number): (a: string, b: string) => number {
    const { tasks, rank } = this
    const sign = q.desc ? -1 : 1
    const byRank = (a: string, b: string): number => sign * (rank.get(a)! - rank.get(b)!)
    if (q.sort === 'created') return byRank
    const key = KEYS[q.sort]
    return (a, b) => {
      const ka = key(tasks.get(a)!, now)
      const kb = key(tasks.get(b)!, now)
      return ka < kb ? -sign : ka > kb ? sign : byRank(a, b)
    }
  }

  private unfiltered(q: Query): boolean {
    return !q.state && !q.executor && !q.group && !q.node && q.search.trim() === ''
  }

  private rebuild(q: Query, now: number): string[] {
    const needle = q.search.trim().toLowerCase()
    const order = this.order()
    if (q.sort === 'created' && this.unfiltered(q)) return q.desc ? [...order].reverse() : [...order]
    const out: string[] = []
    for (const id of order) if (matches(this.tasks.get(id)!, q, needle)) out.push(id)
    if (q.sort === 'created') return q.desc ? out.reverse() : out
    // Sort once on keys read up front: the comparator runs n log n times.
    const cmp = this.compare(q, now)
    return out.sort(cmp)
  }

  private update(q: Query, now: number): string[] {
    const cmp = this.compare(q, now)
    // In creation order without filters, a change never moves a row: only new tasks join.
    if (q.sort === 'created' && this.unfiltered(q)) {
      if (this.added.length === 0) return this.ids
      return merge(this.ids, [...this.added].sort(cmp), cmp)
    }
    const needle = q.search.trim().toLowerCase()
    const dirty = this.dirty
    const kept = this.ids.filter((id) => !dirty.has(id))
    const moved: string[] = []
    for (const id of dirty) {
      const t = this.tasks.get(id)
      if (t && matches(t, q, needle)) moved.push(id)
    }
    if (moved.length === 0 && kept.length === this.ids.length) return this.ids
    return merge(kept, moved.sort(cmp), cmp)
  }
}

/** Merges two arrays each sorted by cmp. */
export function merge(a: readonly string[], b: readonly string[], cmp: (x: string, y: string) => number): string[] {
  if (b.length === 0) return a as string[]
  const out = new Array<string>(a.length + b.length)
  let i = 0
  let j = 0
  let k = 0
  while (i < a.length && j < b.length) out[k++] = cmp(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!
  while (i < a.length) out[k++] = a[i++]!
  while (j < b.length) out[k++] = b[j++]!
  return out
}
