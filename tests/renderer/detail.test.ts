// @vitest-environment happy-dom
// The task detail: facts, attempts, dependencies, cancel latency, and a live log that can pause.
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { describe, expect, it, vi } from 'vitest'
import type { LogLine } from '../../common/types'
import TaskDetail from '../../renderer/src/components/TaskDetail.vue'
import { useMetricsStore } from '../../renderer/src/stores/metrics'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import type { Stats } from '../../common/types'
import { batch, fakeApi, snapshot, task } from './fixtures'

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
})
