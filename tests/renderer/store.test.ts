// @vitest-environment happy-dom
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { emptyCounters, type Stats } from '../../common/types'
import { useActionsStore } from '../../renderer/src/stores/actions'
import { HISTORY_SAMPLES, useMetricsStore } from '../../renderer/src/stores/metrics'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { batch, fakeApi, snapshot, task } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('tasks store (the engine mirror), with the table, metrics and actions stores', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('starts from a snapshot, newest first', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    const a = task({ id: 'a' })
    const b = task({ id: 'b', state: 'running' })
    emit(snapshot(5, [b, a]))
    expect(store.seq).toBe(5)
    expect(useTableStore().view).toEqual(['b', 'a'])
    expect(store.counters).toMatchObject({ pending: 1, running: 1 })
    expect(store.limits?.thread).toBe(4)
  })

  it('applies deltas in seq order: changed tasks replaced, new tasks added, counters taken', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    const a = task({ id: 'a' })
    emit(snapshot(1, [a]))
    const running = { ...a, state: 'running' as const, startedAt: a.createdAt + 5 }
    const c = task({ id: 'c' })
    emit(batch(2, [running, c]))
    expect(store.seq).toBe(2)
    expect(store.tasks.get('a')?.state).toBe('running')
    expect(useTableStore().view).toEqual(['c', 'a'])
    expect(store.counters).toMatchObject({ pending: 1, running: 1, done: 0 })
    expect(store.total).toBe(2)
  })

  it('ignores batches already covered by the snapshot and those before any snapshot', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(batch(1, [task({ id: 'early' })]))
    expect(store.total).toBe(0)
    emit(snapshot(3, [task({ id: 'a' })]))
    emit(batch(3, [task({ id: 'stale' })]))
    emit(batch(2, [task({ id: 'older' })]))
    expect([...store.tasks.keys()]).toEqual(['a'])
    expect(api.snapshot).not.toHaveBeenCalled()
  })

  it('on a gap in seq, asks for a fresh snapshot instead of applying the batch', async () => {
    const store = useTasksStore()
    const fresh = snapshot(10, [task({ id: 'a', state: 'done' }), task({ id: 'b', state: 'running' })])
    const { api, emit } = fakeApi(fresh)
    store.connect(api)
    emit(snapshot(1, [task({ id: 'a' })]))
    emit(batch(4, [task({ id: 'skipped' })]))
    expect(api.snapshot).toHaveBeenCalledTimes(1)
    expect(store.tasks.has('skipped')).toBe(false)
    expect(store.resyncing).toBe(true)
    // A second out-of-order batch while resyncing does not ask again.
    emit(batch(6, [task({ id: 'x' })]))
    expect(api.snapshot).toHaveBeenCalledTimes(1)
    await flush()
    expect(store.resyncing).toBe(false)
    expect(store.seq).toBe(10)
    expect(store.counters).toMatchObject({ done: 1, running: 1 })
    emit(batch(11, [task({ id: 'c' })]))
    expect(store.tasks.has('c')).toBe(true)
  })

  it('keeps the shutdown status from snapshots and batches', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(snapshot(0, []))
    const status = { phase: 'draining' as const, startedAt: 1, deadline: 5001, draining: [], forced: [] }
    emit({ ...batch(1, []), shutdown: status })
    expect(store.shutdown).toEqual(status)
    emit(batch(2, []))
    expect(store.shutdown).toEqual(status)
  })

  it('keeps the latest metrics from batches and a notice from a snapshot', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit({ ...snapshot(0, []), notice: 'The engine thread stopped and was restarted.' })
    expect(store.notice).toBe('The engine thread stopped and was restarted.')
    const stats = { throughput: 2 } as unknown as Stats
    emit({ ...batch(1, []), stats })
    emit(batch(2, []))
    expect(useMetricsStore().stats).toEqual(stats)
  })

  it('keeps ten minutes of metrics for the charts', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(snapshot(0, []))
    for (let i = 1; i <= HISTORY_SAMPLES + 5; i++) emit({ ...batch(i, []), stats: { throughput: i } as unknown as Stats })
    expect(useMetricsStore().history).toHaveLength(HISTORY_SAMPLES)
    expect(useMetricsStore().history.at(-1)!.stats.throughput).toBe(HISTORY_SAMPLES + 5)
    expect(useMetricsStore().history[0]!.stats.throughput).toBe(6)
  })

  it('indexes dependents and groups as tasks arrive', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(snapshot(0, [task({ id: 'a', group: 'nightly' })]))
    emit(batch(1, [task({ id: 'b', after: ['a'], group: 'adhoc' }), task({ id: 'c', after: ['a', 'b'] })]))
    expect(store.dependents.get('a')).toEqual(['b', 'c'])
    expect(store.dependents.get('b')).toEqual(['c'])
    expect(store.groups).toEqual(['adhoc', 'nightly'])
  })

  it('cancels and retries a selection, only the tasks each applies to', async () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(
      snapshot(0, [
        task({ id: 'p', state: 'pending' }),
        task({ id: 'r', state: 'running' }),
        task({ id: 'f', state: 'failed' }),
        task({ id: 'd', state: 'done' }),
      ]),
    )
    const table = useTableStore()
    const actions = useActionsStore()
    table.select(['p', 'r', 'f', 'd'])
    expect(await actions.cancelMany(table.targets())).toBe(2)
    expect(api.cancel.mock.calls.map((c) => c[0]).sort()).toEqual(['p', 'r'])
    expect(await actions.retryMany(table.targets())).toBe(1)
    expect(api.retry).toHaveBeenCalledWith('f')
    // Without a selection, the row under the cursor.
    table.clearSelection()
    table.cursor = 'r'
    expect(table.targets()).toEqual(['r'])
  })

  it('keeps a refused operation as lastError', async () => {
    const store = useTasksStore()
    const { api } = fakeApi()
    api.cancel.mockRejectedValueOnce({ code: 'not-found', error: 'id: no task "zz"' })
    store.connect(api)
    await useActionsStore().cancel('zz')
    expect(store.lastError?.message).toBe('id: no task "zz"')
  })

  it('takes a fresh snapshot when the engine has let old finished tasks go (its counters hold fewer)', async () => {
    const store = useTasksStore()
    const kept = [task({ id: 'b', state: 'done' }), task({ id: 'c', state: 'running' })]
    const { api, emit } = fakeApi(snapshot(7, kept))
    store.connect(api)
    emit(snapshot(1, [task({ id: 'a', state: 'done' }), ...kept]))
    expect(store.total).toBe(3)
    emit(batch(2, [], { ...emptyCounters(), done: 1, running: 1 }))
    expect(api.snapshot).toHaveBeenCalledTimes(1)
    await flush()
    expect([...store.tasks.keys()].sort()).toEqual(['b', 'c'])
    expect(useTableStore().view).toEqual(['c', 'b'])
  })
})
