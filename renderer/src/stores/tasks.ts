// The renderer's picture of the engine: tasks by id plus their order, rebuilt from a snapshot and
// kept current by event batches in seq order. A gap in seq means we missed something: ask for
// a fresh snapshot rather than show a wrong picture.
import { defineStore } from 'pinia'
import { computed, ref, shallowReactive, shallowRef } from 'vue'
import type { TaskloopApi } from '../../../common/api'
import type {
  Counters,
  EngineEvent,
  EventBatch,
  Limits,
  LogLine,
  ShutdownStatus,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskSnapshot,
} from '../../../common/types'
import { emptyCounters, TaskloopError } from '../../../common/types'

/** Rows rendered at most (newest first) until the table is virtualized. */
export const MAX_ROWS = 500

const byCreation = (a: TaskSnapshot, b: TaskSnapshot): number =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

export const useTasksStore = defineStore('tasks', () => {
  // Snapshots are replaced whole, never mutated: shallow reactivity is enough and stays cheap.
  const tasks = shallowReactive(new Map<string, TaskSnapshot>())
  /** Task ids, oldest first. */
  const order = shallowRef<string[]>([])
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
  /** Something the engine says the user must know (e.g. its thread was restarted). */
  const notice = ref<string | null>(null)
  /** The last refusal of an operation started from the UI (cancel, retry, ...), shown in a banner. */
  const lastError = ref<TaskloopError | null>(null)

  let api: TaskloopApi | null = null
  let unsubscribe: (() => void) | null = null

  const total = computed(() => order.value.length)
  /** Newest first, at most MAX_ROWS. */
  const visible = computed(() => {
    const ids = order.value
    const rows: TaskSnapshot[] = []
    for (let i = ids.length - 1; i >= 0 && rows.length < MAX_ROWS; i--) rows.push(tasks.get(ids[i]!)!)
    return rows
  })
  const hiddenCount = computed(() => Math.max(0, total.value - MAX_ROWS))
  /** Tasks not yet final: what Cancel all would touch. */
  const active = computed(() => counters.value.pending + counters.value.running + counters.value.cancelling)

  function applySnapshot(snapshot: Snapshot): void {
    tasks.clear()
    for (const task of snapshot.tasks) tasks.set(task.id, task)
    order.value = [...snapshot.tasks].sort(byCreation).map((t) => t.id)
    seq.value = snapshot.seq
    counters.value = snapshot.counters
    limits.value = snapshot.limits
    shutdown.value = snapshot.shutdown
    if (snapshot.notice) notice.value = snapshot.notice
    resyncing.value = false
  }

  function applyBatch(batch: EventBatch): void {
    // Before the first snapshot, or already covered by the last one.
    if (seq.value === null || batch.seq <= seq.value) return
    if (batch.seq !== seq.value + 1) {
      resync()
      return
    }
    const added: TaskSnapshot[] = []
    for (const task of batch.tasks) {
      if (!tasks.has(task.id)) added.push(task)
      tasks.set(task.id, task)
    }
    if (added.length) order.value = [...order.value, ...added.sort(byCreation).map((t) => t.id)]
    seq.value = batch.seq
    counters.value = batch.counters
    if (batch.limits) limits.value = batch.limits
    if (batch.shutdown !== undefined) shutdown.value = batch.shutdown
    if (batch.stats) stats.value = batch.stats
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

  return {
    tasks,
    order,
    seq,
    counters,
    limits,
    shutdown,
    resyncing,
    lastEventAt,
    stats,
    notice,
    lastError,
    total,
    visible,
    hiddenCount,
    active,
    apply,
    connect,
    disconnect,
    /** Rejects with the refusal so the launcher can show it beside its fields. */
    submit: (spec: SubmitSpec) => need().submit(spec),
    cancel: (id: string) => attempt((a) => a.cancel(id)),
    retry: (id: string) => attempt((a) => a.retry(id)),
    cancelAll: () => attempt((a) => a.cancelAll()),
    setLimits: async (next: Partial<Limits>) => {
      const updated = await attempt((a) => a.setLimits(next))
      if (updated) limits.value = updated
    },
    quit: () => attempt((a) => a.quit()),
    /** One task's log: existing tail, then new lines. Returns the unsubscribe function. */
    watchLog: (id: string, listener: (lines: LogLine[]) => void) => need().subscribeLog(id, listener),
    dismissError: () => (lastError.value = null),
    dismissNotice: () => (notice.value = null),
  }
})

export const isCancellable = (t: TaskSnapshot): boolean => t.state === 'pending' || t.state === 'running'
export const isRetryable = (t: TaskSnapshot): boolean => t.state === 'failed' || t.state === 'cancelled'
