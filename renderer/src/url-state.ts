// The view lives in the URL's fragment: the tab, the filters, the search, the sort and the open
// task. A link opens the same view and a reload keeps it. The fragment, not the query: the
// query carries the server's token on first open, and the fragment never reaches the server.
import { watch, type Ref } from 'vue'
import type { ExecutorKind, TaskState } from '../../common/types'
import { EXECUTORS, TASK_STATES } from '../../common/types'
import type { useTableStore } from './stores/table'
import { defaultQuery, SORT_KEYS, type SortKey } from './stores/view'

type Table = ReturnType<typeof useTableStore>

/** What the fragment says, as the table store and the tab hold it; anything unknown is left out. */
export function readFragment<V extends string>(hash: string, views: readonly V[]): { view?: V; task: string | null; query: ReturnType<typeof defaultQuery> } {
  const p = new URLSearchParams(hash.replace(/^#/, ''))
  const q = defaultQuery()
  const state = p.get('state')
  if (state && (TASK_STATES as readonly string[]).includes(state)) q.state = state as TaskState
  const executor = p.get('executor')
  if (executor && (EXECUTORS as readonly string[]).includes(executor)) q.executor = executor as ExecutorKind
  q.group = p.get('group') ?? ''
  q.node = p.get('node') ?? ''
  q.search = p.get('q') ?? ''
  const sort = p.get('sort')
  if (sort && (SORT_KEYS as readonly string[]).includes(sort)) {
    q.sort = sort as SortKey
    q.desc = p.get('desc') !== '0'
  }
  const view = p.get('view')
  return { ...(view && (views as readonly string[]).includes(view) ? { view: view as V } : {}), task: p.get('task'), query: q }
}

/** The fragment for a view: only what differs from the defaults, so a plain view has a plain URL. */
export function writeFragment(view: string, defaultView: string, task: string | null, query: ReturnType<typeof defaultQuery>): string {
  const d = defaultQuery()
  const p = new URLSearchParams()
  if (view !== defaultView) p.set('view', view)
  if (query.state) p.set('state', query.state)
  if (query.executor) p.set('executor', query.executor)
  if (query.group) p.set('group', query.group)
  if (query.node) p.set('node', query.node)
  if (query.search) p.set('q', query.search)
  if (query.sort !== d.sort || query.desc !== d.desc) {
    p.set('sort', query.sort)
    p.set('desc', query.desc ? '1' : '0')
  }
  if (task) p.set('task', task)
  const text = p.toString()
  return text ? `#${text}` : ''
}

/** Applies the URL's fragment to the table and the tab, then keeps the fragment current (replaceState: no history entry per keystroke). */
export function bindUrl<V extends string>(table: Table, view: Ref<V>, views: readonly V[]): () => void {
  const apply = (): void => {
    const read = readFragment(window.location.hash, views)
    Object.assign(table.query, read.query)
    table.detailId = read.task
    if (read.task) table.cursor = read.task
    view.value = read.view ?? views[0]!
  }
  apply()
  const stop = watch(
    () => writeFragment(view.value, views[0]!, table.detailId, table.query),
    (fragment) => {
      if (fragment === window.location.hash || (fragment === '' && window.location.hash === '')) return
      const url = `${window.location.pathname}${window.location.search}${fragment}`
      window.history.replaceState(window.history.state, '', url)
    },
  )
  // A link pasted into this tab's address bar.
  window.addEventListener('hashchange', apply)
  return () => {
    stop()
    window.removeEventListener('hashchange', apply)
  }
}
