// What the user looks at in the task table: the query (filters, search, sort), the rows it gives
// (an incremental index over the mirrored tasks, ./view.ts), the keyboard cursor, the selection
// and the task whose detail is open. Ids throughout, so they survive rows scrolling out and tasks
// changing. Also the cluster nodes and queues the tasks name, for the node filter and
// columns that show only when some task has them.
import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef } from 'vue'
import { useTasksStore } from './tasks'
import { defaultQuery, TaskView, type Query, type SortKey } from './view'

export const useTableStore = defineStore('table', () => {
  const tasks = useTasksStore()
  const query = reactive<Query>(defaultQuery())
  const cursor = ref<string | null>(null)
  const selection = shallowRef<ReadonlySet<string>>(new Set())
  const detailId = ref<string | null>(null)

  /** Cluster nodes and queues named by some task, sorted; they stay once seen (like the groups). */
  const nodes = shallowRef<string[]>([])
  const queues = shallowRef<string[]>([])

  /** Adds the nodes and queues these tasks name (a waiting task gets its node once one picks it up). */
  function noteCluster(ids: Iterable<string>): void {
    let n: Set<string> | null = null
    let q: Set<string> | null = null
    for (const id of ids) {
      const t = tasks.tasks.get(id)
      if (!t) continue
      if (t.node && !nodes.value.includes(t.node)) (n ??= new Set(nodes.value)).add(t.node)
      if (t.queue && !queues.value.includes(t.queue)) (q ??= new Set(queues.value)).add(t.queue)
    }
    if (n) nodes.value = [...n].sort()
    if (q) queues.value = [...q].sort()
  }

  const index = new TaskView(tasks.tasks, tasks.rank, () => tasks.order)
  tasks.onChange((changed, added) => {
    if (changed) index.changed(changed, added)
    else index.invalidate()
    noteCluster(changed ?? tasks.tasks.keys())
  })
  noteCluster(tasks.tasks.keys())
  /** Some task came through the cluster: the table shows its node and queue columns. */
  const clustered = computed(() => nodes.value.length > 0 || queues.value.length > 0)

  /** Ids matching the query, in display order (newest first by default). */
  const view = computed(() => {
    void tasks.version
    return index.read(query)
  })

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

  return {
    query,
    cursor,
    selection,
    detailId,
    view,
    nodes,
    queues,
    clustered,
    select,
    selectRange,
    targets,
    setSort,
    clearSelection: () => (selection.value = new Set()),
    resetQuery: () => Object.assign(query, defaultQuery()),
  }
})
