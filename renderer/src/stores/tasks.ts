// The renderer's picture of the engine: the connection to it and its mirror (common/mirror.ts:
// tasks by id in creation order, counters, limits, shutdown, seq, resync on a gap), plus what the
// UI derives from the tasks as they arrive (dependents, groups). The table's query and selection
// live in ./table.ts, the metrics in ./metrics.ts, the operations on the engine in ./actions.ts.
//
// 10k–100k tasks: the map is not reactive per key (that would cost a dependency per task);
// `version` ticks once per applied event and everything that reads tasks depends on it.
import { defineStore } from 'pinia'
import { computed, markRaw, ref, shallowRef, triggerRef } from 'vue'
import type { TaskloopApi } from '../../../common/api'
import { Mirror, type MirrorChange } from '../../../common/mirror'
import type { Counters, Limits, ShutdownStatus, TaskSnapshot } from '../../../common/types'
import { emptyCounters, TaskloopError } from '../../../common/types'
import { useMetricsStore } from './metrics'

/** Hears which tasks changed: ids (and which of them are new), or null when everything was replaced. */
export type ChangeListener = (changed: readonly string[] | null, added: readonly string[]) => void

export const useTasksStore = defineStore('tasks', () => {
  const metrics = useMetricsStore()
  /** Ticks once per applied snapshot, and per batch that changed a task. */
  const version = ref(0)
  /** seq of the last snapshot or batch applied; null before the first snapshot. */
  const seq = ref<number | null>(null)
  const counters = ref<Counters>(emptyCounters())
  const limits = ref<Limits | null>(null)
  const shutdown = ref<ShutdownStatus | null>(null)
  const resyncing = ref(false)
  /** When the engine last said anything; it sends metrics every second, so silence means lost contact. */
  const lastEventAt = ref<number | null>(null)
  /** Something the engine says the user must know (e.g. its thread was restarted). */
  const notice = ref<string | null>(null)
  /** The last refusal of an operation started from the UI (./actions.ts) or of a resync, shown in a banner. */
  const lastError = ref<TaskloopError | null>(null)
  /** Groups seen so far, sorted, for the filter. */
  const groups = shallowRef<string[]>([])

  let api: TaskloopApi | null = null
  let unsubscribe: (() => void) | null = null

  function connection(): TaskloopApi {
    if (!api) throw new TaskloopError('internal', 'not connected to the engine')
    return api
  }

  const mirror = markRaw(
    new Mirror({
      snapshot: async () => {
        resyncing.value = true
        return connection().snapshot()
      },
      onError: (e) => {
        resyncing.value = false
        lastError.value = TaskloopError.from(e)
      },
    }),
  )
  // Raw on purpose: see the header. Read through `task(id)` (or after `version`) to stay live.
  const tasks = markRaw(mirror.tasks)
  const rank = markRaw(mirror.rank)
  /** Task ids, oldest first (the engine's creation order): the mirror's array, appended to in place. */
  const order = shallowRef<string[]>(mirror.order)
  /** Ids of the tasks that name each task in `after`. */
  const dependents = markRaw(new Map<string, string[]>())
  /** Ids of the tasks each task's job submitted (ctx.submit), from their `parent`. */
  const children = markRaw(new Map<string, string[]>())
  /** Ids of the tasks made to retry (or run again) each task, from their `retryOf`, oldest first. */
  const retries = markRaw(new Map<string, string[]>())

  const listeners = new Set<ChangeListener>()

  const total = computed(() => order.value.length)
  /** Tasks not yet final: what Cancel all would touch. */
  const active = computed(() => counters.value.pending + counters.value.running + counters.value.cancelling)

  /** One task, read reactively (re-evaluated on every applied event). */
  function task(id: string): TaskSnapshot | undefined {
    void version.value
    return tasks.get(id)
  }

  function indexDependents(list: Iterable<TaskSnapshot>): void {
    for (const t of list) {
      if (t.retryOf) {
        const ids = retries.get(t.retryOf)
        if (ids) ids.push(t.id)
        else retries.set(t.retryOf, [t.id])
      }
      if (t.parent) {
        const ids = children.get(t.parent)
        if (ids) ids.push(t.id)
        else children.set(t.parent, [t.id])
      }
      for (const dep of t.after) {
        const ids = dependents.get(dep)
        if (ids) ids.push(t.id)
        else dependents.set(dep, [t.id])
      }
    }
  }

  function noteGroups(list: Iterable<TaskSnapshot>): void {
    let next: Set<string> | null = null
    for (const t of list) {
      if (t.group === null || groups.value.includes(t.group)) continue
      next ??= new Set(groups.value)
      next.add(t.group)
    }
    if (next) groups.value = [...next].sort()
  }

  mirror.onChange(({ event, changed, added }: MirrorChange) => {
    if (changed === null) {
      dependents.clear()
      children.clear()
      retries.clear()
      indexDependents(tasks.values())
      groups.value = []
      noteGroups(tasks.values())
    } else if (added.length > 0) {
      const fresh = added.map((id) => tasks.get(id)!)
      indexDependents(fresh)
      noteGroups(fresh)
    }
    if (order.value !== mirror.order) order.value = mirror.order
    else if (added.length > 0) triggerRef(order)
    seq.value = mirror.seq
    resyncing.value = mirror.resyncing
    counters.value = mirror.counters
    // Only what the event carries: a limit set from the UI shows at once (./actions.ts), before its batch.
    if (event.type === 'snapshot') {
      limits.value = mirror.limits
      shutdown.value = mirror.shutdown
      if (event.notice) notice.value = event.notice
    } else {
      if (event.notice !== undefined) notice.value = event.notice
      if (event.limits) limits.value = mirror.limits
      if (event.shutdown !== undefined) shutdown.value = mirror.shutdown
      if (event.stats) metrics.record(event.stats)
    }
    if (changed === null || changed.length > 0) {
      for (const l of listeners) l(changed, added)
      version.value++
    }
  })

  function connect(to: TaskloopApi): void {
    disconnect()
    api = to
    unsubscribe = to.subscribe((event) => {
      lastEventAt.value = Date.now()
      mirror.push(event)
    })
  }

  function disconnect(): void {
    unsubscribe?.()
    unsubscribe = null
    api = null
  }

  function onChange(listener: ChangeListener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  return {
    tasks,
    rank,
    order,
    dependents,
    children,
    retries,
    version,
    seq,
    counters,
    limits,
    shutdown,
    resyncing,
    lastEventAt,
    notice,
    lastError,
    groups,
    total,
    active,
    task,
    connect,
    disconnect,
    /** The API of the engine this store mirrors; throws when not connected. */
    connection,
    onChange,
    dismissError: () => (lastError.value = null),
    dismissNotice: () => (notice.value = null),
  }
})
