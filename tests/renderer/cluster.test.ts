// @vitest-environment happy-dom
// Issue 12 in the UI: the Cluster view (nodes, queues, the Redis-unreachable banner), polling
// GET /api/cluster, the node and queue columns and the node filter, the detail's node, queue and
// job options, timeline lanes per node, and the cluster settings field (the app's, or serve's flags).
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import App from '../../renderer/src/App.vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TaskloopError, type ClusterSettings, type ClusterSettingsUpdate, type TaskSnapshot } from '../../common/types'
import Cluster from '../../renderer/src/components/Cluster.vue'
import ClusterSettingsPanel from '../../renderer/src/components/ClusterSettings.vue'
import Launcher from '../../renderer/src/components/Launcher.vue'
import TaskDetail from '../../renderer/src/components/TaskDetail.vue'
import TaskFilters from '../../renderer/src/components/TaskFilters.vue'
import TaskTable from '../../renderer/src/components/TaskTable.vue'
import Timeline from '../../renderer/src/components/Timeline.vue'
import { CLUSTER_IDLE_POLL_MS, CLUSTER_POLL_MS, useClusterStore } from '../../renderer/src/stores/cluster'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { buildTimeline, THIS_NODE } from '../../renderer/src/timeline'
import { batch, clusterInfo, fakeApi, snapshot, task } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))
const t0 = 1_700_000_000_000

/** A task that ran (or runs) on `worker`, of a cluster node when `node` is given. */
const ran = (id: string, executor: TaskSnapshot['executor'], worker: string, extra: Partial<TaskSnapshot> = {}) =>
  task({
    id,
    executor,
    state: 'running',
    createdAt: t0,
    startedAt: t0 + 10,
    worker,
    attempts: [{ attempt: 1, worker, startedAt: t0 + 10, endedAt: null, outcome: null, reason: null, error: null }],
    ...extra,
  })

function connect(tasks: TaskSnapshot[] = []) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const { api, emit } = fakeApi()
  const store = useTasksStore()
  store.connect(api)
  emit(snapshot(1, tasks))
  return { api, emit, store, table: useTableStore(), cluster: useClusterStore(), pinia }
}

describe('the Cluster view', () => {
  it('lists every node (this one marked) with its queues, executor load bars and last heartbeat, and every queue with its counts', async () => {
    const { api } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    const wrapper = mount(Cluster)
    await flush()
    expect(api.cluster).toHaveBeenCalled()
    expect(wrapper.find('[data-cluster-where]').text()).toBe('node n1 · redis://:***@10.0.0.5:6379')
    const n1 = wrapper.find('tr[data-node="n1"]')
    const n2 = wrapper.find('tr[data-node="n2"]')
    expect(n1.classes()).toContain('self')
    expect(n1.text()).toContain('this node')
    expect(n2.text()).not.toContain('this node')
    expect(n2.text()).toContain('rack-7')
    expect(n2.text()).toContain('777')
    expect(n2.text()).toContain('taskloop, gpu')
    const threads = n2.find('[data-executor="thread"] meter')
    expect(threads.attributes()).toMatchObject({ value: '3', max: '4', 'aria-label': 'n2 thread: 3 of 4 running' })
    expect(n2.find('[data-executor="thread"]').text()).toContain('3/4')
    expect(n1.find('[data-heartbeat]').text()).toMatch(/^[34] s ago$/)
    const q = wrapper.find('tr[data-queue="taskloop"]')
    expect(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'].map((c) => q.find(`[data-count="${c}"]`).text())).toEqual(['5', '2', '1', '0', '40', '3'])
    expect(wrapper.find('[data-redis-down]').exists()).toBe(false)
  })

  it('"Show tasks" of a node asks for that node\'s tasks', async () => {
    const { api } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    const wrapper = mount(Cluster)
    await flush()
    await wrapper.find('button[aria-label="Show the tasks of node n2"]').trigger('click')
    expect(wrapper.emitted('showTasks')).toEqual([['n2']])
  })

  it('"Cancel all in the cluster" asks first, then cancels every cluster task', async () => {
    const { api } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    const wrapper = mount(Cluster)
    await flush()
    await wrapper.findAll('button').find((b) => b.text() === 'Cancel all in the cluster')!.trigger('click')
    const confirm = wrapper.find('[role="alertdialog"]')
    expect(confirm.text()).toContain('on every node')
    expect(api.cancelAll).not.toHaveBeenCalled()
    await confirm.findAll('button').find((b) => b.text() === 'Cancel them all')!.trigger('click')
    await flush()
    expect(api.cancelAll).toHaveBeenCalledWith({ cluster: true })
    expect(wrapper.find('[role="alertdialog"]').exists()).toBe(false)
  })

  it('says clearly while Redis is unreachable, and why', async () => {
    const { api, cluster } = connect()
    api.cluster.mockResolvedValue(clusterInfo({ connected: false, error: 'connect ECONNREFUSED 10.0.0.5:6379', nodes: [], queues: [] }))
    const wrapper = mount(Cluster)
    await flush()
    const banner = wrapper.find('[data-redis-down]')
    expect(banner.attributes('role')).toBe('alert')
    expect(banner.text()).toContain('Redis is unreachable: connect ECONNREFUSED 10.0.0.5:6379.')
    expect(cluster.unreachable).toBe(true)
  })

  it('a node in no cluster says how to join one', async () => {
    connect()
    const wrapper = mount(Cluster)
    await flush()
    expect(wrapper.find('[data-no-cluster]').text()).toContain('taskloop serve --redis redis://HOST:PORT')
    expect(wrapper.find('table').exists()).toBe(false)
  })
})

describe('polling GET /api/cluster', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('every 2 s while the view is shown, every 10 s otherwise, and not at all once the node says it is in no cluster', async () => {
    const { api, cluster } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    const stop = cluster.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(api.cluster).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS)
    expect(api.cluster).toHaveBeenCalledTimes(2)

    const unwatch = cluster.watch()
    await vi.advanceTimersByTimeAsync(0)
    expect(api.cluster).toHaveBeenCalledTimes(3)
    await vi.advanceTimersByTimeAsync(CLUSTER_POLL_MS * 3)
    expect(api.cluster).toHaveBeenCalledTimes(6)
    unwatch()
    await vi.advanceTimersByTimeAsync(CLUSTER_POLL_MS * 3)
    expect(api.cluster).toHaveBeenCalledTimes(6)

    // Redis gone: the next poll says so; back: the banner goes.
    api.cluster.mockResolvedValue(clusterInfo({ connected: false, error: 'Connection is closed.' }))
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS)
    expect(cluster.unreachable).toBe(true)
    api.cluster.mockResolvedValue(clusterInfo())
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS)
    expect(cluster.unreachable).toBe(false)
    stop()
    const calls = api.cluster.mock.calls.length
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS * 3)
    expect(api.cluster).toHaveBeenCalledTimes(calls)
  })

  it('alone, asks once', async () => {
    const { api, cluster } = connect()
    const stop = cluster.start()
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS * 5)
    expect(api.cluster).toHaveBeenCalledTimes(1)
    expect(cluster.enabled).toBe(false)
    stop()
  })

  it('a refused poll is kept as the error and polling goes on', async () => {
    const { api, cluster } = connect()
    api.cluster.mockRejectedValueOnce(new TaskloopError('unavailable', 'engine restarting'))
    const stop = cluster.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(cluster.error).toBe('engine restarting')
    api.cluster.mockResolvedValue(clusterInfo())
    await vi.advanceTimersByTimeAsync(CLUSTER_IDLE_POLL_MS)
    expect(cluster.error).toBeNull()
    expect(cluster.enabled).toBe(true)
    stop()
  })
})

describe('cluster tasks in the task table', () => {
  const local = task({ id: 'l', name: 'local one', state: 'running', startedAt: t0 })
  const onN2 = task({ id: 'a', name: 'on n2', state: 'running', startedAt: t0, queue: 'taskloop', node: 'n2' })
  const waiting = task({ id: 'w', name: 'waiting', state: 'pending', queue: 'gpu', node: null })

  it('shows no node or queue column while no task came through the cluster', () => {
    connect([local])
    const wrapper = mount(TaskTable)
    expect(wrapper.findAll('thead th').map((th) => th.classes()[0])).not.toContain('node')
    expect(wrapper.find('td.node').exists()).toBe(false)
    expect(wrapper.find('select[aria-label="Filter by node"]').exists()).toBe(false)
  })

  it('shows node and queue columns once one did, and filters by node', async () => {
    const { emit, table } = connect([local])
    const wrapper = mount(TaskTable)
    emit(batch(2, [onN2, waiting]))
    await flush()
    const heads = wrapper.findAll('thead th').map((th) => th.text())
    expect(heads).toContain('Node')
    expect(heads).toContain('Queue')
    expect(wrapper.find('tr[data-task-id="a"] td.node').text()).toBe('n2')
    expect(wrapper.find('tr[data-task-id="a"] td.queue').text()).toBe('taskloop')
    expect(wrapper.find('tr[data-task-id="w"] td.node').text()).toBe('')
    expect(wrapper.find('tr[data-task-id="w"] td.queue').text()).toBe('gpu')
    expect(wrapper.find('tr[data-task-id="l"] td.node').text()).toBe('')

    const filter = wrapper.find<HTMLSelectElement>('select[aria-label="Filter by node"]')
    expect(filter.findAll('option').map((o) => o.text())).toEqual(['any node', 'n2'])
    await filter.setValue('n2')
    expect(table.query.node).toBe('n2')
    expect(wrapper.findAll('tbody tr[data-task-id]').map((r) => r.attributes('data-task-id'))).toEqual(['a'])
    // The waiting task is picked up by n2: it joins the filtered rows.
    emit(batch(3, [{ ...waiting, state: 'running', node: 'n2', startedAt: t0 + 5 }]))
    await flush()
    expect(wrapper.findAll('tbody tr[data-task-id]').map((r) => r.attributes('data-task-id')).sort()).toEqual(['a', 'w'])
  })

  it('sorts by node', async () => {
    const { table } = connect([local, onN2, task({ id: 'b', queue: 'taskloop', node: 'n1', state: 'running', startedAt: t0 })])
    table.setSort('node')
    expect(table.view).toEqual(['l', 'b', 'a'])
  })

  it('a node named in the URL is choosable before its tasks arrive', () => {
    const { table } = connect([local])
    table.query.node = 'n3'
    const wrapper = mount(TaskFilters)
    expect(wrapper.find('select[aria-label="Filter by node"]').findAll('option').map((o) => o.text())).toEqual(['any node', 'n3'])
  })
})

describe('a cluster task in the detail', () => {
  it('shows its node, its queue and its BullMQ job options', () => {
    connect([
      task({
        id: 'q',
        name: 'queued',
        state: 'pending',
        queue: 'gpu',
        node: null,
        // `queue` and `delayMs` are spec fields of the cluster layer.
        spec: { job: 'sleep', params: { ms: 10 }, queue: 'gpu', retries: 2, retryDelayMs: 500, priority: 5, delayMs: 2000 } as TaskSnapshot['spec'],
      }),
      task({ id: 'r', name: 'remote', state: 'running', queue: 'taskloop', node: 'n2', spec: { job: 'sleep', queue: 'taskloop' } as TaskSnapshot['spec'] }),
      task({ id: 'l', name: 'local', spec: { job: 'sleep', retries: 2 } }),
    ])
    const q = mount(TaskDetail, { props: { id: 'q' } })
    expect(q.find('[data-node]').text()).toBe('none yet: waiting in the queue')
    expect(q.find('[data-queue]').text()).toBe('gpu')
    expect(q.find('[data-job-options]').text()).toBe('attempts 3 (2 retries) · backoff 500 ms · priority 5 · delay 2.0 s')
    const r = mount(TaskDetail, { props: { id: 'r' } })
    expect(r.find('[data-node]').text()).toBe('n2')
    expect(r.find('[data-job-options]').exists()).toBe(false)
    const l = mount(TaskDetail, { props: { id: 'l' } })
    expect(l.find('[data-node]').exists()).toBe(false)
    expect(l.find('[data-job-options]').exists()).toBe(false)
  })
})

describe('timeline lanes per node', () => {
  it('without node lanes, lanes are as on one machine', () => {
    const data = buildTimeline([ran('a', 'loop', 'loop'), ran('b', 'thread', 'thread 1')])
    expect(data.lanes.map((l) => l.key)).toEqual(['loop', 'thread:thread 1'])
  })

  it('with them, every node gets its lanes, this node first with its local tasks; only its own workers can be gone', () => {
    const tasks = [
      ran('l', 'thread', 'thread 9'),
      ran('x', 'loop', 'loop', { queue: 'taskloop', node: 'n1' }),
      ran('a', 'thread', 'thread 1', { queue: 'taskloop', node: 'n2' }),
      ran('b', 'loop', 'loop', { queue: 'taskloop', node: 'n2', state: 'done', endedAt: t0 + 20, attempts: [{ attempt: 1, worker: 'loop', startedAt: t0 + 10, endedAt: t0 + 20, outcome: 'done', reason: null, error: null }] }),
      ran('c', 'command', 'pid 5', { queue: 'taskloop', node: 'a0' }),
    ]
    const data = buildTimeline(tasks, [], 'n1')
    expect(data.lanes.map((l) => [l.node, l.label])).toEqual([
      ['n1', 'engine loop'],
      ['n1', 'thread 9'],
      ['a0', 'commands'],
      ['n2', 'engine loop'],
      ['n2', 'thread 1'],
    ])
    expect(data.segments.get('n2/thread:thread 1')!.filter((s) => s.kind === 'run').map((s) => s.taskId)).toEqual(['a'])
    // Nothing runs on n2's done loop lane, and no stats describe another node's workers: never gone.
    expect(data.lanes.some((l) => l.gone)).toBe(false)
    // Without its id, this node's lanes are "this node".
    expect(buildTimeline(tasks, null, THIS_NODE).lanes[0]!.node).toBe(THIS_NODE)
  })

  it('the Timeline view draws node lanes once a task carries a node, named after this node', async () => {
    const { emit, api, cluster } = connect([ran('l', 'loop', 'loop')])
    api.cluster.mockResolvedValue(clusterInfo())
    await cluster.refresh()
    const wrapper = mount(Timeline)
    expect(wrapper.findAll('.lanes li[data-lane]').map((li) => li.attributes('data-node'))).toEqual([undefined])
    emit(batch(2, [ran('a', 'thread', 'thread 1', { queue: 'taskloop', node: 'n2' })]))
    await new Promise((r) => setTimeout(r, 300))
    const lanes = wrapper.findAll('.lanes li[data-lane]')
    expect(lanes.map((li) => [li.attributes('data-node'), li.attributes('data-lane')])).toEqual([
      ['n1', 'engine loop'],
      ['n2', 'thread 1'],
    ])
    expect(lanes.map((li) => li.classes().includes('node-first'))).toEqual([true, true])
    expect(lanes[1]!.text()).toContain('n2')
    wrapper.unmount()
  })
})

describe('the cluster settings field', () => {
  const appSettings = (over: Partial<Extract<ClusterSettings, { source: 'app' }>> = {}): ClusterSettings => ({
    source: 'app',
    redis: 'redis://:***@10.0.0.5:6379',
    nodeId: 'desk',
    queues: ['taskloop', 'gpu'],
    problem: null,
    ...over,
  })

  it('in the app: shows the saved values (password as ***) and saves them for the next start', async () => {
    const { api } = connect()
    api.clusterSettings.mockImplementation(async (update?: ClusterSettingsUpdate) =>
      update ? appSettings({ redis: update.redis, nodeId: update.nodeId ?? null, queues: update.queues ?? [] }) : appSettings(),
    )
    const wrapper = mount(ClusterSettingsPanel)
    await flush()
    expect(api.clusterSettings).toHaveBeenCalledWith()
    expect(wrapper.text()).toContain('Used at the next start of the app')
    const redis = wrapper.find<HTMLInputElement>('input[name="redis"]')
    expect(redis.element.value).toBe('redis://:***@10.0.0.5:6379')
    expect(wrapper.find<HTMLInputElement>('input[name="node-id"]').element.value).toBe('desk')
    expect(wrapper.find<HTMLInputElement>('input[name="queues"]').element.value).toBe('taskloop, gpu')
    expect(wrapper.html()).not.toMatch(/secret/)

    await redis.setValue('redis://:***@10.0.0.6:6379')
    await wrapper.find('input[name="queues"]').setValue('taskloop  gpu,batch')
    await wrapper.find('form').trigger('submit')
    await flush()
    expect(api.clusterSettings).toHaveBeenLastCalledWith({ redis: 'redis://:***@10.0.0.6:6379', nodeId: 'desk', queues: ['taskloop', 'gpu', 'batch'] })
    expect(wrapper.find('[data-settings-status]').text()).toBe('Saved: the app joins with these at its next start.')

    // Empty URL: leave the cluster.
    await redis.setValue('')
    await wrapper.find('form').trigger('submit')
    await flush()
    expect(api.clusterSettings).toHaveBeenLastCalledWith({ redis: null })
    expect(wrapper.find('[data-settings-status]').text()).toBe('Saved: the app leaves the cluster at its next start.')
  })

  it('in the app: a refusal shows beside the field, and a problem of the saved settings or of joining shows too', async () => {
    const { api } = connect()
    api.clusterSettings.mockImplementation(async (update?: ClusterSettingsUpdate) => {
      if (update) throw new TaskloopError('invalid', 'redis: expected redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://…', 'redis')
      return appSettings({ problem: 'could not join the cluster at redis://:***@10.0.0.5:6379: connect ECONNREFUSED' })
    })
    const wrapper = mount(ClusterSettingsPanel)
    await flush()
    expect(wrapper.find('[data-settings-problem]').text()).toContain('could not join the cluster at redis://:***@10.0.0.5:6379')
    await wrapper.find('input[name="redis"]').setValue('http://nope')
    await wrapper.find('form').trigger('submit')
    await flush()
    const status = wrapper.find('[data-settings-status]')
    expect(status.text()).toMatch(/^redis: expected redis:\/\//)
    expect(status.classes()).toContain('refused')
  })

  it('under taskloop serve: the values its flags set, read-only, and how to change them', async () => {
    const { api, cluster } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    await cluster.refresh()
    const wrapper = mount(ClusterSettingsPanel)
    await flush()
    expect(wrapper.find('form').exists()).toBe(false)
    expect(wrapper.find('input').exists()).toBe(false)
    const facts = wrapper.find('[data-flags]').text()
    expect(facts).toContain('redis://:***@10.0.0.5:6379')
    expect(facts).toContain('n1')
    expect(facts).toContain('taskloop')
    expect(wrapper.text()).toContain('Set by the flags of taskloop serve')
    expect(wrapper.text()).toContain('--redis redis://HOST:PORT')
    expect(wrapper.find('[data-cluster-summary]').text()).toBe('node n1')
  })
})

describe('the launcher in a cluster', () => {
  it('has no Queue field alone', () => {
    connect()
    expect(mount(Launcher).find('input[name="queue"]').exists()).toBe(false)
  })

  it('sends the tasks to the queue typed in (the queues known offered), a batch of them without concurrency', async () => {
    const { api, cluster } = connect()
    api.cluster.mockResolvedValue(clusterInfo())
    await cluster.refresh()
    const wrapper = mount(Launcher)
    expect(wrapper.findAll('#launcher-queues option').map((o) => o.attributes('value'))).toEqual(['gpu', 'taskloop'])
    await wrapper.find('input[name="queue"]').setValue('gpu')
    await wrapper.find('input[name="count"]').setValue(2)
    expect(wrapper.find('input[name="concurrency"]').attributes('disabled')).toBeDefined()
    await wrapper.find('form').trigger('submit')
    await vi.dynamicImportSettled() // the spec's checks load with the first launch
    await flush()
    expect(api.submit).toHaveBeenCalledWith({
      batch: {
        name: '2 × sleep',
        tasks: [
          { job: 'sleep', params: { ms: 1000 }, queue: 'gpu', name: 'sleep #1' },
          { job: 'sleep', params: { ms: 1000 }, queue: 'gpu', name: 'sleep #2' },
        ],
      },
    })
    // A name BullMQ cannot take is refused beside the field.
    await wrapper.find('input[name="queue"]').setValue('a:b')
    await wrapper.find('input[name="count"]').setValue(1)
    await wrapper.find('form').trigger('submit')
    await flush()
    expect(wrapper.find('input[name="queue"]').attributes('aria-invalid')).toBe('true')
    expect(api.submit).toHaveBeenCalledTimes(1)
  })
})

describe('the window in a cluster', () => {
  it('offers the Cluster tab only in a cluster, says Redis is unreachable on every view, and "Show tasks" filters the table', async () => {
    const { api, cluster, table, pinia } = connect([task({ id: 'a', name: 'on n2', state: 'running', startedAt: t0, queue: 'taskloop', node: 'n2' })])
    // This test's stores, whatever other tests' components left ticking.
    const global = { plugins: [pinia] }
    const alone = mount(App, { attachTo: document.body, global })
    await vi.waitFor(() => expect(cluster.info).not.toBeNull())
    expect(alone.find('#tab-cluster').exists()).toBe(false)
    alone.unmount()

    api.cluster.mockResolvedValue(clusterInfo({ connected: false, error: 'connect ECONNREFUSED 10.0.0.5:6379' }))
    const wrapper = mount(App, { attachTo: document.body, global })
    await vi.waitFor(() => expect(wrapper.find('[data-redis-down]').exists()).toBe(true))
    expect(wrapper.find('[data-redis-down]').text()).toContain('Redis is unreachable: connect ECONNREFUSED 10.0.0.5:6379.')
    await wrapper.find('#tab-cluster').trigger('click')
    expect(wrapper.find('#view-cluster').exists()).toBe(true)
    // The view says it itself, once.
    expect(wrapper.findAll('[data-redis-down]')).toHaveLength(1)
    api.cluster.mockResolvedValue(clusterInfo())
    await cluster.refresh()
    await flush()
    expect(wrapper.find('[data-redis-down]').exists()).toBe(false)
    await wrapper.find('button[aria-label="Show the tasks of node n2"]').trigger('click')
    expect(table.query.node).toBe('n2')
    expect(wrapper.find('#view-tasks').isVisible()).toBe(true)
    expect(wrapper.find<HTMLSelectElement>('select[aria-label="Filter by node"]').element.value).toBe('n2')
    wrapper.unmount()
  })
})
