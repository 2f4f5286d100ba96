// @vitest-environment happy-dom
// The table's view: filters, search and sort, rebuilt on a new query and kept current by batches
// (the incremental result must always equal a fresh rebuild).
import fc from 'fast-check'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { TASK_STATES, type TaskSnapshot, type TaskState } from '../../common/types'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { SORT_KEYS, TaskView, defaultQuery, type Query } from '../../renderer/src/stores/view'
import { batch, fakeApi, snapshot, task } from './fixtures'

/** Node's process, which runs this file (tsconfig.web.json type-checks the renderer's tests without Node's types). */
declare const process: { cpuUsage(since?: { user: number; system: number }): { user: number; system: number } }

function connected(tasks: TaskSnapshot[]) {
  setActivePinia(createPinia())
  const store = useTasksStore()
  const { api, emit } = fakeApi()
  store.connect(api)
  emit(snapshot(1, tasks))
  return { store, table: useTableStore(), emit }
}

const mix = (): TaskSnapshot[] => [
  task({ id: 'a1', name: 'fetch page 1', executor: 'loop', state: 'done', group: 'crawl', spec: { job: 'http', params: { url: 'https://example.com/1' } } }),
  task({ id: 'a2', name: 'fetch page 2', executor: 'loop', state: 'failed', group: 'crawl', error: { message: 'ECONNRESET by peer' } }),
  task({ id: 'b1', name: 'crunch', executor: 'thread', state: 'running', progress: 0.3, startedAt: 5 }),
  task({ id: 'b2', name: 'Build', executor: 'command', state: 'pending', spec: { command: 'npm run build' } }),
  task({ id: 'c1', name: 'archive', executor: 'process', state: 'cancelled', group: 'nightly' }),
]

describe('task view', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('filters by state, executor and group', () => {
    const { table } = connected(mix())
    table.query.state = 'failed'
    expect(table.view).toEqual(['a2'])
    table.query.state = ''
    table.query.executor = 'loop'
    expect(table.view).toEqual(['a2', 'a1'])
    table.query.executor = ''
    table.query.group = 'nightly'
    expect(table.view).toEqual(['c1'])
  })

  it('searches id, name, params, command and error text, case-insensitive', () => {
    const { table } = connected(mix())
    const find = (s: string) => {
      table.query.search = s
      return [...table.view].sort()
    }
    expect(find('B1')).toEqual(['b1'])
    expect(find('fetch')).toEqual(['a1', 'a2'])
    expect(find('example.com/1')).toEqual(['a1'])
    expect(find('npm run')).toEqual(['b2'])
    expect(find('econnreset')).toEqual(['a2'])
    expect(find('nothing like it')).toEqual([])
  })

  it('sorts by a column, either way, ties in creation order', () => {
    const { table } = connected(mix())
    table.setSort('name')
    expect(table.view).toEqual(['c1', 'b2', 'b1', 'a1', 'a2'])
    table.setSort('name')
    expect(table.view).toEqual(['a2', 'a1', 'b1', 'b2', 'c1'])
    table.setSort('state')
    expect(table.view[0]).toBe('b1') // running first
  })

  it('follows batches: a task leaves a state filter when it changes state, a new one joins in order', () => {
    const { store, table, emit } = connected(mix())
    table.query.state = 'running'
    expect(table.view).toEqual(['b1'])
    const b1 = store.tasks.get('b1')!
    const b2 = store.tasks.get('b2')!
    emit(batch(2, [{ ...b1, state: 'done' }, { ...b2, state: 'running' }, task({ id: 'z', state: 'running' })]))
    expect(table.view).toEqual(['z', 'b2'])
  })

  it('hands back the same array when a batch moves nothing in view', () => {
    const { store, table, emit } = connected(mix())
    table.query.state = 'running'
    const before = table.view
    const b2 = store.tasks.get('b2')!
    emit(batch(2, [{ ...b2, progressMessage: 'still pending' }]))
    expect(table.view).toBe(before)
  })

  it('after any sequence of batches, equals a view built from scratch (property)', () => {
    const states = fc.constantFrom<TaskState>(...TASK_STATES)
    const change = fc.record({ id: fc.integer({ min: 0, max: 40 }), state: states, progress: fc.double({ min: 0, max: 1, noNaN: true }) })
    const query = fc.record({
      state: fc.constantFrom<Query['state']>('', 'running', 'done'),
      executor: fc.constantFrom<Query['executor']>('', 'loop', 'thread'),
      group: fc.constant(''),
      node: fc.constantFrom('', 'n2'),
      search: fc.constantFrom('', 't1', 'task'),
      sort: fc.constantFrom(...SORT_KEYS.filter((k) => k !== 'duration')),
      desc: fc.boolean(),
    })
    fc.assert(
      fc.property(query, fc.array(fc.array(change, { maxLength: 8 }), { maxLength: 12 }), (q, batches) => {
        const tasks = new Map<string, TaskSnapshot>()
        const rank = new Map<string, number>()
        const order: string[] = []
        const add = (t: TaskSnapshot) => {
          rank.set(t.id, order.length)
          order.push(t.id)
        }
        for (let i = 0; i < 20; i++) {
          const t = task({ id: `t${i}`, executor: i % 2 ? 'loop' : 'thread' })
          tasks.set(t.id, t)
          add(t)
        }
        const view = new TaskView(tasks, rank, () => order)
        view.read(q)
        for (const changes of batches) {
          const changed: string[] = []
          const added: string[] = []
          for (const c of changes) {
            const id = `t${c.id}`
            const old = tasks.get(id)
            if (!old) {
              add(task({ id, executor: c.id % 2 ? 'loop' : 'thread' }))
              added.push(id)
            }
            // A cluster task gets its node when it starts.
            const node = c.id % 3 === 0 && c.state !== 'pending' ? 'n2' : null
            tasks.set(id, { ...(old ?? task({ id })), ...(old ? {} : { executor: c.id % 2 ? 'loop' : 'thread' }), state: c.state, progress: c.progress, attempt: c.id % 3, node })
            changed.push(id)
          }
          view.changed(changed, added)
          const incremental = view.read(q)
          const fresh = new TaskView(tasks, rank, () => order).read(q)
          expect(incremental).toEqual(fresh)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('keeps 100,000 tasks current in a few milliseconds per batch', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => task({ id: `t${i}`, state: i % 10 ? 'done' : 'running', executor: i % 3 ? 'loop' : 'thread' }))
    const { store, table, emit } = connected(many)
    table.query.state = 'running'
    table.setSort('progress')
    expect(table.view).toHaveLength(10_000)
    // The batches made first: the fixture counts the states of all 100k tasks for each batch's
    // counters, the test's own work, which was most of the time measured here.
    const batches = Array.from({ length: 10 }, (_, k) => {
      const s = k + 2
      const changed = Array.from({ length: 100 }, (_, j) => ({ ...store.tasks.get(`t${(s * 1000 + j * 10) % 100_000}`)!, progress: Math.random() }))
      return batch(s, changed)
    })
    // CPU time, not the clock: this file runs in a process of its own (vitest's forks), and on a
    // busy machine a batch also waits for a core, which is not the view's cost.
    const t0 = process.cpuUsage()
    for (const b of batches) {
      emit(b)
      void table.view
    }
    const { user, system } = process.cpuUsage(t0)
    const perBatch = (user + system) / 1000 / 10
    expect(table.view).toHaveLength(10_000)
    // Generous: ~2-10 ms here; a full re-sort of 100k is ~100 ms.
    expect(perBatch).toBeLessThan(40)
    expect(defaultQuery().sort).toBe('created')
  })
})
