// @vitest-environment happy-dom
// The task detail: facts, attempts, dependencies, cancel latency, and a live log that can pause.
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { describe, expect, it, vi } from 'vitest'
import type { BatchSnapshot, LogLine } from '../../common/types'
import TaskDetail from '../../renderer/src/components/TaskDetail.vue'
import { useMetricsStore } from '../../renderer/src/stores/metrics'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import type { Stats } from '../../common/types'
import { batch, fakeApi, snapshot, task } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))
const line = (seq: number, text: string): LogLine => ({ seq, time: 1_700_000_000_000 + seq, stream: 'log', line: text })

function setup() {
  setActivePinia(createPinia())
  const store = useTasksStore()
  const { api, emit } = fakeApi()
  let push: (lines: LogLine[]) => void = () => {}
  const unwatch = vi.fn()
  api.subscribeLog.mockImplementation(((_id: string, l: (lines: LogLine[]) => void) => {
    push = l
    return unwatch
  }) as never)
  store.connect(api)
  const t0 = 1_700_000_100_000
  emit(
    snapshot(1, [
      task({ id: 'up', name: 'phase1', state: 'done', startedAt: t0, endedAt: t0 + 1000 }),
      task({
        id: 'me',
        name: 'phase2',
        state: 'cancelled',
        reason: 'user',
        after: ['up'],
        createdAt: t0,
        startedAt: t0 + 1500,
        endedAt: t0 + 4000,
        cancelRequestedAt: t0 + 3750,
        error: null,
        attempts: [
          { attempt: 1, worker: 'thread 2', startedAt: t0 + 1000, endedAt: t0 + 1400, outcome: 'pending', reason: 'error', error: 'flaky' },
          { attempt: 2, worker: 'thread 3', startedAt: t0 + 1500, endedAt: t0 + 4000, outcome: 'cancelled', reason: 'user', error: null },
        ],
        spec: { job: 'spin', params: { ms: 5000 }, executor: 'thread', retries: 1 },
      }),
      task({ id: 'down', name: 'phase3', after: ['me'] }),
    ]),
  )
  return { store, api, emit, push: (l: LogLine[]) => push(l), unwatch }
}


describe('task detail', () => {
  it('shows spec and params, each attempt, dependencies both ways and the cancel latency', () => {
    const { api } = setup()
    const wrapper = mount(TaskDetail, { props: { id: 'me' } })
    expect(api.subscribeLog).toHaveBeenCalledWith('me', expect.any(Function))
    const text = wrapper.text()
    expect(text).toContain('phase2')
    expect(text).toContain('"ms": 5000')
    expect(text).toContain('Runs after: phase1 (done)')
    expect(text).toContain('Needed by: phase3 (pending)')
    expect(wrapper.find('.cancel-latency').text()).toMatch(/^250 ms/)
    const attempts = wrapper.findAll('table[aria-label="Attempts"] tbody tr').map((r) => r.text())
    expect(attempts).toHaveLength(2)
    expect(attempts[0]).toContain('thread 2')
    expect(attempts[0]).toContain('retried')
    expect(attempts[0]).toContain('flaky')
    expect(attempts[1]).toContain('cancelled (user)')
    expect(attempts[1]).toContain('2.5 s')
  })

  it('shows the error with its stack', () => {
    const { emit, store } = setup()
    emit(batch(2, [{ ...store.tasks.get('up')!, state: 'failed', reason: 'error', error: { message: 'disk full', stack: 'Error: disk full\n    at write (job.mjs:3:9)' } }]))
    const wrapper = mount(TaskDetail, { props: { id: 'up' } })
    expect(wrapper.text()).toContain('disk full')
    expect(wrapper.find('.stack pre').text()).toContain('at write (job.mjs:3:9)')
  })

  it('follows the log live; paused, it holds new lines until Follow', async () => {
    const { push, unwatch } = setup()
    const wrapper = mount(TaskDetail, { props: { id: 'me' } })
    push([line(1, 'tick 1'), line(2, 'tick 2')])
    await wrapper.vm.$nextTick()
    const log = () => wrapper.find('[aria-label="Task log"]').text()
    expect(log()).toContain('tick 2')
    await wrapper.findAll('button').find((b) => b.text() === 'Pause log')!.trigger('click')
    push([line(3, 'tick 3')])
    await wrapper.vm.$nextTick()
    expect(log()).not.toContain('tick 3')
    const follow = wrapper.findAll('button').find((b) => b.text().startsWith('Follow log'))!
    expect(follow.text()).toBe('Follow log (1 new)')
    await follow.trigger('click')
    expect(log()).toContain('tick 3')
    wrapper.unmount()
    expect(unwatch).toHaveBeenCalled()
  })

  it('links a parent and the tasks its job submitted both ways, and shows the locks it holds', async () => {
    const { emit } = setup()
    emit(
      batch(2, [
        task({ id: 'fan', name: 'fan-out', state: 'running' }),
        task({ id: 'c1', name: 'child 1', parent: 'fan', state: 'done' }),
        task({ id: 'c2', name: 'child 2', parent: 'fan' }),
      ]),
    )
    useMetricsStore().stats = { queues: [], locks: [{ name: 'counter', holder: 'fan', waiters: ['c2'] }] } as unknown as Stats
    const parent = mount(TaskDetail, { props: { id: 'fan' } })
    expect(parent.findAll('[data-link="child"]').map((b) => b.text())).toEqual(['child 1 (done)', 'child 2 (pending)'])
    expect(parent.find('[data-locks]').text()).toBe('Holds lock: counter')
    const child = mount(TaskDetail, { props: { id: 'c2' } })
    expect(child.text()).toContain('Submitted by: fan-out (running)')
    expect(child.find('[data-locks]').exists()).toBe(false)
  })

  it('dependency links open that task in the detail', async () => {
    setup()
    const table = useTableStore()
    const wrapper = mount(TaskDetail, { props: { id: 'me' } })
    const links = wrapper.findAll('button.dep')
    await links.find((b) => b.text().startsWith('phase1'))!.trigger('click')
    expect(table.detailId).toBe('up')
    await links.find((b) => b.text().startsWith('phase3'))!.trigger('click')
    expect(table.detailId).toBe('down')
  })

  it('links a retry to the task it retries and back to the newest retry; a done task can run again', async () => {
    const { emit, api } = setup()
    emit(
      batch(2, [
        task({ id: 'r1', name: 'phase2', retryOf: 'me', attempt: 3, state: 'failed', reason: 'error' }),
        task({ id: 'r2', name: 'phase2 again', retryOf: 'me', attempt: 4, state: 'running' }),
      ]),
    )
    const table = useTableStore()
    const retry = mount(TaskDetail, { props: { id: 'r2' } })
    expect(retry.find('[data-link="retry-of"]').text()).toBe('phase2 (cancelled)')
    expect(retry.text()).toContain('Retry of phase2')
    await retry.find('[data-link="retry-of"]').trigger('click')
    expect(table.detailId).toBe('me')
    const old = mount(TaskDetail, { props: { id: 'me' } })
    expect(old.text()).toContain('Retried as phase2 again (running)')
    await old.find('[data-link="retried-as"]').trigger('click')
    expect(table.detailId).toBe('r2')
    // Cancelled: Retry; done: Run again (the same operation).
    expect(old.findAll('button').some((b) => b.text() === 'Retry this task')).toBe(true)
    expect(old.find('[aria-label^="Run again"]').exists()).toBe(false)
    const done = mount(TaskDetail, { props: { id: 'up' } })
    expect(done.findAll('button').some((b) => b.text() === 'Retry this task')).toBe(false)
    await done.find('[aria-label="Run again phase1"]').trigger('click')
    expect(api.retry).toHaveBeenCalledWith('up')
  })

  it("shows a member's batch: name, progress, what settled it and the gathered results, refetched when a member changes", async () => {
    const { emit, api } = setup()
    const snap = (done: number): BatchSnapshot => ({
      id: 'b1', name: '3 × sleep', total: 3, concurrency: 2, failFast: false, returnWhen: 'all', timeoutMs: null, onSettled: 'cancel',
      settledBy: done === 3 ? 'all' : null,
      counters: { pending: 3 - done, running: 0, cancelling: 0, done, failed: 0, cancelled: 0 },
      progress: done / 3, state: done === 3 ? 'done' : 'running', taskIds: ['m1', 'm2', 'm3'], completed: [],
      results: [1, 2, 3].map((i) => (i <= done ? { n: i } : null)),
    })
    api.batch.mockResolvedValueOnce(snap(1)).mockResolvedValue(snap(3))
    emit(batch(2, [task({ id: 'm1', name: 'sleep #1', batchId: 'b1', state: 'done' }), task({ id: 'm2', batchId: 'b1' }), task({ id: 'm3', batchId: 'b1' })]))
    const wrapper = mount(TaskDetail, { props: { id: 'm1' } })
    await flush()
    expect(api.batch).toHaveBeenCalledWith('b1')
    expect(wrapper.find('[data-batch-name]').text()).toBe('3 × sleep')
    expect(wrapper.find('[data-batch-progress]').text()).toBe('1/3 finished')
    expect(wrapper.find('[data-batch-settled]').text()).toBe('not settled')
    expect(JSON.parse(wrapper.find('[data-batch-results]').text())).toEqual([{ n: 1 }, null, null])
    // A change to a task outside the batch does not refetch; a member's does.
    emit(batch(3, [task({ id: 'other', state: 'running' })]))
    await flush()
    expect(api.batch).toHaveBeenCalledTimes(1)
    emit(batch(4, [task({ id: 'm3', batchId: 'b1', state: 'done' })]))
    await flush()
    expect(api.batch).toHaveBeenCalledTimes(2)
    expect(wrapper.find('[data-batch-progress]').text()).toBe('3/3 finished')
    expect(wrapper.find('[data-batch-settled]').text()).toBe('settled by all')
    expect(mount(TaskDetail, { props: { id: 'up' } }).find('[data-batch]').exists()).toBe(false)
  })
})

describe('task detail over the compact events (no result, no stack in them)', () => {
  it('fetches the result and the error stack with get, and again when the task changes state', async () => {
    const { api, emit } = setup()
    const failed = task({ id: 'x', name: 'boom', state: 'failed', reason: 'error', error: { message: 'bad' } })
    delete (failed as { result?: unknown }).result
    emit(batch(2, [failed]))
    api.get.mockResolvedValue({ ...failed, result: null, error: { message: 'bad', stack: 'Error: bad\n    at job.mjs:3' }, log: [], logFile: null } as never)
    const wrapper = mount(TaskDetail, { props: { id: 'x' } })
    await vi.waitFor(() => expect(wrapper.find('.stack pre').text()).toContain('at job.mjs:3'))
    expect(api.get).toHaveBeenCalledWith('x')

    api.get.mockResolvedValue({ ...failed, state: 'done', result: { rows: 42 }, error: null, log: [], logFile: null } as never)
    emit(batch(3, [{ ...failed, state: 'done', reason: null, error: null }]))
    await vi.waitFor(() => expect(wrapper.find('.result').text()).toContain('"rows": 42'))
    expect(api.get).toHaveBeenCalledTimes(2)
  })
})
