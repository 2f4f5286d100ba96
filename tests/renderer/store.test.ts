// @vitest-environment happy-dom
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import type { Stats } from '../../common/types'
import { MAX_ROWS, useTasksStore } from '../../renderer/src/stores/tasks'
import { batch, fakeApi, snapshot, task } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('tasks store', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('starts from a snapshot, newest first', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    const a = task({ id: 'a' })
    const b = task({ id: 'b', state: 'running' })
    emit(snapshot(5, [b, a]))
    expect(store.seq).toBe(5)
    expect(store.visible.map((t) => t.id)).toEqual(['b', 'a'])
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
    expect(store.visible.map((t) => t.id)).toEqual(['c', 'a'])
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
    expect(store.stats).toEqual(stats)
  })

  it('renders at most MAX_ROWS rows and says how many are hidden', () => {
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    const many = Array.from({ length: MAX_ROWS + 7 }, (_, i) => task({ id: `t${i}` }))
    emit(snapshot(0, many))
    expect(store.visible).toHaveLength(MAX_ROWS)
    expect(store.visible[0]!.id).toBe(`t${MAX_ROWS + 6}`)
    expect(store.hiddenCount).toBe(7)
  })

  it('keeps a refused operation as lastError', async () => {
    const store = useTasksStore()
    const { api } = fakeApi()
    api.cancel.mockRejectedValueOnce({ code: 'not-found', error: 'id: no task "zz"' })
    store.connect(api)
    await store.cancel('zz')
    expect(store.lastError?.message).toBe('id: no task "zz"')
  })
})
