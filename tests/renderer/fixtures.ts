// Builders for the renderer tests: task snapshots, engine events and a fake TaskloopApi.
import { vi } from 'vitest'
import type { TaskloopApi } from '../../common/api'
import type { ClusterInfo, ClusterSettings, ClusterSettingsUpdate, Counters, EngineEvent, EventBatch, Limits, Snapshot, SubmitSpec, TaskSnapshot } from '../../common/types'
import { emptyCounters, SNAPSHOT_DEFAULTS } from '../../common/types'

let clock = 1_700_000_000_000

export function task(overrides: Partial<TaskSnapshot> & { id: string }): TaskSnapshot {
  clock += 10
  return {
    name: `task ${overrides.id}`,
    executor: 'loop',
    state: 'pending',
    ...SNAPSHOT_DEFAULTS,
    after: [],
    attempts: [],
    attempt: 1,
    createdAt: clock,
    spec: { job: 'sleep', params: { ms: 1000 } },
    ...overrides,
  }
}

export function countersOf(tasks: TaskSnapshot[]): Counters {
  const c = emptyCounters()
  for (const t of tasks) c[t.state]++
  return c
}

/** The engine's live tasks as the events built here describe them, so batch counters add up like the engine's. */
const engineTasks = new Map<string, TaskSnapshot>()

export function snapshot(seq: number, tasks: TaskSnapshot[]): Snapshot {
  engineTasks.clear()
  for (const t of tasks) engineTasks.set(t.id, t)
  return { type: 'snapshot', seq, tasks, counters: countersOf(tasks), limits: { loop: 256, thread: 4, process: 4, command: 16 }, shutdown: null }
}

/** Counters default to all tasks of the last snapshot plus every batch since (what the engine holds live). */
export function batch(seq: number, tasks: TaskSnapshot[], counters?: Counters): EventBatch {
  for (const t of tasks) engineTasks.set(t.id, t)
  return { type: 'batch', seq, tasks, counters: counters ?? countersOf([...engineTasks.values()]) }
}

/** A TaskloopApi whose methods are spies; `emit` plays the engine's event stream. */
export function fakeApi(initial: Snapshot = snapshot(0, [])) {
  let listener: ((e: EngineEvent) => void) | null = null
  const api = {
    submit: vi.fn(async (_spec: SubmitSpec) => ({ ids: ['t1'] })),
    list: vi.fn(async () => []),
    history: vi.fn(async () => []),
    get: vi.fn(),
    cancel: vi.fn(async (_id: string) => {}),
    retry: vi.fn(async (_id: string) => ({ id: 'r1' })),
    cancelAll: vi.fn(async () => {}),
    stats: vi.fn(),
    setLimits: vi.fn(async (l: Partial<Limits>) => ({ loop: 256, thread: 4, process: 4, command: 16, ...l })),
    snapshot: vi.fn(async () => initial),
    batch: vi.fn(),
    pause: vi.fn(async () => {}),
    resume: vi.fn(async () => {}),
    setGroupLimit: vi.fn(async (group: string, limit: number | null) => (limit === null ? {} : { [group]: limit })),
    subscribe: vi.fn((l: (e: EngineEvent) => void) => {
      listener = l
      return () => (listener = null)
    }),
    subscribeLog: vi.fn(() => () => {}),
    quit: vi.fn(async () => {}),
    forceShutdown: vi.fn(async () => {}),
    cluster: vi.fn(async (): Promise<ClusterInfo> => ({ enabled: false, nodeId: null, redis: null, connected: false, error: null, nodes: [], queues: [] })),
    clusterSettings: vi.fn(async (_update?: ClusterSettingsUpdate): Promise<ClusterSettings> => ({ source: 'flags' })),
  } satisfies TaskloopApi
  return { api, emit: (e: EngineEvent) => listener?.(e) }
}

/** A cluster of two nodes (this one, n1, and n2) serving the queue `taskloop`, as GET /api/cluster gives it. */
export function clusterInfo(overrides: Partial<ClusterInfo> = {}): ClusterInfo {
  const limits = { loop: 256, thread: 4, process: 4, command: 16 }
  return {
    enabled: true,
    nodeId: 'n1',
    redis: 'redis://:***@10.0.0.5:6379',
    connected: true,
    error: null,
    nodes: [
      { id: 'n1', host: 'desk', pid: 4242, queues: ['taskloop'], limits, running: { loop: 1, thread: 0, process: 0, command: 0 }, heartbeatAt: Date.now() - 3000, self: true },
      { id: 'n2', host: 'rack-7', pid: 777, queues: ['taskloop', 'gpu'], limits, running: { loop: 0, thread: 3, process: 0, command: 1 }, heartbeatAt: Date.now() - 1000, self: false },
    ],
    queues: [
      { name: 'taskloop', waiting: 5, active: 2, delayed: 1, prioritized: 0, completed: 40, failed: 3 },
      { name: 'gpu', waiting: 0, active: 1, delayed: 0, prioritized: 0, completed: 2, failed: 0 },
    ],
    ...overrides,
  }
}
