// The renderer's picture of the engine: tasks by id plus their creation order, rebuilt from a
// snapshot and kept current by event batches in seq order. A gap in seq means we missed
// something: ask for a fresh snapshot rather than show a wrong picture.
//
// 10k–100k tasks: the map is not reactive per key (that would cost a dependency per task);
// `version` ticks once per applied event and everything that reads tasks depends on it. The
// table's filtered, sorted view is a computed over an incremental index (./view.ts).
import { defineStore } from 'pinia'
import { computed, markRaw, reactive, ref, shallowRef, triggerRef } from 'vue'
import type { TaskloopApi } from '../../../common/api'
import type {
  Counters,
  EngineEvent,
  EventBatch,
  HistoryQuery,
  Limits,
  LogLine,
  ShutdownStatus,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskSnapshot,
} from '../../../common/types'
import { emptyCounters, TaskloopError } from '../../../common/types'
import { defaultQuery, TaskView, type Query, type SortKey } from './view'

/** Metrics kept for the charts: one sample a second, ten minutes. */
export const HISTORY_SAMPLES = 600
/** Operations on a selection go out this many at a time. */
const OP_CONCURRENCY = 32

export interface StatsSample {
  at: number
  stats: Stats
}

/** Hears which tasks changed: ids (and which of them are new), or null when everything was replaced. */
export type ChangeListener = (changed: readonly string[] | null, added: readonly string[]) => void

/**
 * Creation order. The engine lists tasks in the order it created them, and many share a
 * millisecond: a stable sort on the time alone keeps its order for those (ids do not sort).
 */
const byCreation = (a: TaskSnapshot, b: TaskSnapshot): number => a.createdAt - b.createdAt

export const useTasksStore = defineStore('tasks', () => {
  // Raw on purpose: see the header. Read through `task(id)` (or after `version`) to stay live.
  const tasks = markRaw(new Map<string, TaskSnapshot>())
  const rank = markRaw(new Map<string, number>())
  /** Task ids, oldest first (the engine's creation order). Appended to, replaced on a snapshot. */
  const order = shallowRef<string[]>([])
  /** Ids of the tasks that name each task in `after`. */
  const dependents = markRaw(new Map<string, string[]>())
  /** Ticks once per applied snapshot or batch. */
  const version = ref(0)
  /** seq of the last snapshot or batch applied; null before the first snapshot. */
  const seq = ref<number | null>(null)
  const counters = ref<Counters>(emptyCounters())
  const limits = ref<Limits | null>(null)
  const shutdown = ref<ShutdownStatus | null>(null)
  const resyncing = ref(false)
  /** When the engine last said anything; it sends metrics every second, so silence means lost contact. */
  const lastEventAt = ref<number | null>(null)
  /** Engine metrics, refreshed about once a second by the batches. */
  const stats = ref<Stats | null>(null)
  /** The last HISTORY_SAMPLES metrics, oldest first. */
  const history = shallowRef<StatsSample[]>([])
  /** Something the engine says the user must know (e.g. its thread was restarted). */
  const notice = ref<string | null>(null)
  /** The last refusal of an operation started from the UI (cancel, retry, ...), shown in a banner. */
  const lastError = ref<TaskloopError | null>(null)
  /** Groups seen so far, sorted, for the filter. */
  const groups = shallowRef<string[]>([])

  // What the user looks at: the table's query, the keyboard cursor, the selection, the detail.
  const query = reactive<Query>(defaultQuery())
  const cursor = ref<string | null>(null)
  const selection = shallowRef<ReadonlySet<string>>(new Set())
  const detailId = ref<string | null>(null)

  const listeners = new Set<ChangeListener>()
  const tableView = new TaskView(tasks, rank, () => order.value)
  listeners.add((changed, added) => (changed ? tableView.changed(changed, added) : tableView.invalidate()))

  let api: TaskloopApi | null = null
  let unsubscribe: (() => void) | null = null

  const total = computed(() => order.value.length)
  /** Ids matching the query, in display order (newest first by default). */
  const view = computed(() => {
    void version.value
    return tableView.read(query)
  })
  /** Tasks not yet final: what Cancel all would touch. */
  const active = computed(() => counters.value.pending + counters.value.running + counters.value.cancelling)

  /** One task, read reactively (re-evaluated on every applied event). */
  function task(id: string): TaskSnapshot | undefined {
    void version.value
    return tasks.get(id)
  }

  function index(t: TaskSnapshot): void {
    rank.set(t.id, rank.size)
    for (const dep of t.after) {
      const list = dependents.get(dep)
      if (list) list.push(t.id)
      else dependents.set(dep, [t.id])
    }
  }

  function noteGroups(list: readonly TaskSnapshot[]): void {
    let next: Set<string> | null = null
    for (const t of list) {
      if (t.group === null || groups.value.includes(t.group)) continue
      next ??= new Set(groups.value)
      next.add(t.group)
    }
    if (next) groups.value = [...next].sort()
  }

  function applySnapshot(snapshot: Snapshot): void {
    tasks.clear()
    rank.clear()
    dependents.clear()
    const sorted = [...snapshot.tasks].sort(byCreation)
    for (const t of sorted) {
      tasks.set(t.id, t)
      index(t)
    }
    order.value = sorted.map((t) => t.id)
    groups.value = []
    noteGroups(sorted)
    seq.value = snapshot.seq
    counters.value = snapshot.counters
    limits.value = snapshot.limits
    shutdown.value = snapshot.shutdown
    if (snapshot.notice) notice.value = snapshot.notice
    resyncing.value = false
    for (const l of listeners) l(null, [])
    version.value++
  }

  function applyBatch(batch: EventBatch): void {
    if (batch.notice !== undefined) notice.value = batch.notice
    // Before the first snapshot, or already covered by the last one.
    if (seq.value === null || batch.seq <= seq.value) return
    if (batch.seq !== seq.value + 1) {
      resync()
      return
    }
    const added: TaskSnapshot[] = []
    const changed: string[] = []
    for (const t of batch.tasks) {
      if (!tasks.has(t.id)) added.push(t)
      tasks.set(t.id, t)
      changed.push(t.id)
    }
    let addedIds: string[] = []
    if (added.length) {
      added.sort(byCreation)
      for (const t of added) index(t)
      addedIds = added.map((t) => t.id)
      // In place (a batch may add thousands: no spread into push), then tell the readers.
      const ids = order.value
      for (const id of addedIds) ids.push(id)
      triggerRef(order)
      noteGroups(added)
    }
    seq.value = batch.seq
    counters.value = batch.counters
    if (batch.limits) limits.value = batch.limits
    if (batch.shutdown !== undefined) shutdown.value = batch.shutdown
    if (batch.stats) {
      stats.value = batch.stats
      const next = history.value.length >= HISTORY_SAMPLES ? history.value.slice(1) : history.value.slice()
      next.push({ at: Date.now(), stats: batch.stats })
      history.value = next
    }
    if (changed.length) {
      for (const l of listeners) l(changed, addedIds)
      version.value++
    }
    // The counters count every task the engine keeps live. Fewer than we hold: it has let old
    // finished ones go (it keeps the newest 20,000; history() pages the rest), so take its picture.
    const live = batch.counters.pending + batch.counters.running + batch.counters.cancelling +
      batch.counters.done + batch.counters.failed + batch.counters.cancelled
    if (live < order.value.length) resync()
  }

  function apply(event: EngineEvent): void {
    lastEventAt.value = Date.now()
    if (event.type === 'snapshot') applySnapshot(event)
    else applyBatch(event)
  }

  /** Replaces the picture with a fresh snapshot; batches that arrive meanwhile wait on seq. */
  function resync(): void {
    if (resyncing.value || !api) return
    resyncing.value = true
    api.snapshot().then(applySnapshot, (e: unknown) => {
      resyncing.value = false
      lastError.value = TaskloopError.from(e)
    })
  }

  function connect(to: TaskloopApi): void {
    disconnect()
    api = to
    unsubscribe = to.subscribe(apply)
  }

  function disconnect(): void {
    unsubscribe?.()
    unsubscribe = null
    api = null
  }

  function need(): TaskloopApi {
    if (!api) throw new TaskloopError('internal', 'not connected to the engine')
    return api
  }

  /** Runs an operation; a refusal lands in lastError instead of being lost. */
  async function attempt<T>(op: (api: TaskloopApi) => Promise<T>): Promise<T | undefined> {
    try {
      const value = await op(need())
      lastError.value = null
      return value
    } catch (e) {
      lastError.value = TaskloopError.from(e)
      return undefined
    }
  }

  /** One operation per id, a few at a time; the first refusal is kept, the rest still run. */
  async function each(ids: readonly string[], op: (api: TaskloopApi, id: string) => Promise<unknown>): Promise<number> {
    let next = 0
    let ok = 0
    let failure: unknown = null
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]!
        try {
          await op(need(), id)
          ok++
        } catch (e) {
          failure ??= e
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(OP_CONCURRENCY, ids.length) }, worker))
    lastError.value = failure === null ? null : TaskloopError.from(failure)
    return ok
  }

  // Selection and cursor: ids, so they survive rows scrolling out and tasks changing.
  function select(ids: Iterable<string>, mode: 'replace' | 'add' | 'toggle' = 'replace'): void {
    const next = new Set(mode === 'replace' ? [] : selection.value)
    for (const id of ids) {
      if (mode === 'toggle' && next.has(id)) next.delete(id)
      else next.add(id)
    }
    selection.value = next
  }

  /** Selects the rows between two ids of the current view (shift-click). */
  function selectRange(from: string, to: string): void {
    const ids = view.value
    const a = ids.indexOf(from)
    const b = ids.indexOf(to)
    if (a < 0 || b < 0) return select([to], 'add')
    select(ids.slice(Math.min(a, b), Math.max(a, b) + 1), 'add')
  }

  /** The ids an action applies to: the selection, or else the row under the cursor. */
  function targets(): string[] {
    if (selection.value.size > 0) return [...selection.value]
    return cursor.value ? [cursor.value] : []
  }

  function setSort(key: SortKey): void {
    if (query.sort === key) query.desc = !query.desc
    else {
      query.sort = key
      query.desc = key === 'created' || key === 'started' || key === 'duration' || key === 'progress'
    }
  }

  function onChange(listener: ChangeListener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  return {
    tasks,
    order,
    dependents,
    version,
    seq,
    counters,
    limits,
    shutdown,
    resyncing,
    lastEventAt,
    stats,
    history,
    notice,
    lastError,
    groups,
    query,
    cursor,
    selection,
    detailId,
    total,
    view,
    active,
    task,
    apply,
    connect,
    disconnect,
    onChange,
    select,
    selectRange,
    targets,
    setSort,
    clearSelection: () => (selection.value = new Set()),
    resetQuery: () => Object.assign(query, defaultQuery()),
    /** Rejects with the refusal so the launcher can show it beside its fields. */
    submit: (spec: SubmitSpec) => need().submit(spec),
    /** A page of the store's history (the History view shows its refusal itself). */
    pageHistory: (query: HistoryQuery) => need().history(query),
    cancel: (id: string) => attempt((a) => a.cancel(id)),
    retry: (id: string) => attempt((a) => a.retry(id)),
    /** Cancels every cancellable task among ids; returns how many were asked. */
    cancelMany: (ids: readonly string[]) =>
      each(
        ids.filter((id) => {
          const t = tasks.get(id)
          return t !== undefined && isCancellable(t)
        }),
        (a, id) => a.cancel(id),
      ),
    retryMany: (ids: readonly string[]) =>
      each(
        ids.filter((id) => {
          const t = tasks.get(id)
          return t !== undefined && isRetryable(t)
        }),
        (a, id) => a.retry(id),
      ),
    cancelAll: () => attempt((a) => a.cancelAll()),
    setLimits: async (next: Partial<Limits>) => {
      const updated = await attempt((a) => a.setLimits(next))
      if (updated) limits.value = updated
      return updated
    },
    pause: () => attempt((a) => a.pause()),
    resume: () => attempt((a) => a.resume()),
    quit: () => attempt((a) => a.quit()),
    /** One task with its log tail (spec, result, error as the engine has them now). */
    detail: (id: string) => need().get(id),
    /** One task's log: existing tail, then new lines. Returns the unsubscribe function. */
    watchLog: (id: string, listener: (lines: LogLine[]) => void) => need().subscribeLog(id, listener),
    dismissError: () => (lastError.value = null),
    dismissNotice: () => (notice.value = null),
  }
})

export const isCancellable = (t: TaskSnapshot): boolean => t.state === 'pending' || t.state === 'running'
export const isRetryable = (t: TaskSnapshot): boolean => t.state === 'failed' || t.state === 'cancelled'
