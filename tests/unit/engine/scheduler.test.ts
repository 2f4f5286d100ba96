// The scheduler on its own: limits, priorities, gates, dependencies, cancel → grace → force,
// timeouts, retries, pause. Its executors are in-memory doubles that the test starts, settles and
// kills by hand (the real ones are tested in tests/integration/executors/); timers are fake.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EXECUTORS, type ExecutorKind, type TaskSpec } from '../../../common/types'
import { EventBatcher } from '../../../engine/events'
import { TaskFailure, type Executor, type Run, type RunHooks, type RunRequest } from '../../../engine/executors/executor'
import { Scheduler } from '../../../engine/scheduler'
import { Task, type BatchInfo } from '../../../engine/task'
import { TaskLogs } from '../../../engine/task-log'

/** One run handed to a fake executor; the test decides when it starts and how it ends. */
class FakeRun {
  cancelled = false
  killed = false
  started = false
  withdrawn = false
  /** Its worker has taken it and is about to start it: it can no longer be withdrawn. */
  taken = false
  readonly run: Run
  private settle!: { resolve(v: unknown): void; reject(e: unknown): void }
  constructor(
    readonly request: RunRequest,
    readonly hooks: RunHooks,
    forcible: boolean,
  ) {
    const result = new Promise((resolve, reject) => (this.settle = { resolve, reject }))
    this.run = {
      result,
      cancel: () => {
        this.cancelled = true
        // As the real executors do: a run not yet started ends without its job being called.
        if (!this.started) this.fail(new TaskFailure('error', 'cancelled before it started'))
      },
      withdraw: () => {
        if (this.started || this.taken) return false
        this.withdrawn = true
        this.fail(new TaskFailure('error', 'cancelled before it started'))
        return true
      },
      kill: () => {
        if (!forcible) return false
        this.killed = true
        this.fail(new TaskFailure('crashed', 'killed'))
        return true
      },
    }
  }
  get id(): string {
    return this.request.taskId
  }
  start(): this {
    this.started = true
    this.hooks.worker('fake')
    return this
  }
  finish(value: unknown): void {
    this.settle.resolve(value)
  }
  fail(error: unknown): void {
    this.settle.reject(error)
  }
}

class FakeExecutor implements Executor {
  readonly runs: FakeRun[] = []
  /** Runs per limit unit taken ahead, as a pool does. */
  prefetch = 0
  constructor(
    readonly kind: ExecutorKind,
    private readonly forcible: boolean,
  ) {}
  start(request: RunRequest, hooks: RunHooks): Run {
    const r = new FakeRun(request, hooks, this.forcible)
    this.runs.push(r)
    return r.run
  }
  resize(): void {}
  workers(): number {
    return 0
  }
  async close(): Promise<void> {}
}

/**
 * Lets the scheduler's dispatch (once per event-loop turn, on a real setImmediate: only timeouts
 * and intervals are faked) and the runs' settlements (promise callbacks) happen.
 */
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve))
    for (let j = 0; j < 5; j++) await Promise.resolve()
  }
}

let executors: Record<ExecutorKind, FakeExecutor>
let scheduler: Scheduler
let events: EventBatcher
let seq = 0
const finished: string[] = []

function newScheduler(limits: Partial<Record<ExecutorKind, number>> = {}, killGraceMs = 1000): Scheduler {
  // Like the loop executor, the fake loop cannot force a stop; the others can.
  executors = Object.fromEntries(EXECUTORS.map((k) => [k, new FakeExecutor(k, k !== 'loop')])) as Record<ExecutorKind, FakeExecutor>
  scheduler = new Scheduler({
    executors,
    limits: { loop: 10, thread: 10, process: 10, command: 10, ...limits },
    killGraceMs,
    events: (events = new EventBatcher(50, () => scheduler.counters)),
    logs: new TaskLogs(50),
    onFinished: (t) => finished.push(t.id),
  })
  return scheduler
}

function add(spec: Partial<TaskSpec> & { name: string }, executor: ExecutorKind = 'loop', batch: BatchInfo | null = null): Task {
  const t = new Task(spec.name, ++seq, { job: 'sleep', ...spec } as TaskSpec, executor, batch)
  scheduler.add([t])
  return t
}

const handed = (kind: ExecutorKind = 'loop') => executors[kind].runs.map((r) => r.id)
const runOf = (task: Task, kind: ExecutorKind = 'loop') => executors[kind].runs.findLast((r) => r.id === task.id)!

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  seq = 0
  finished.length = 0
})
afterEach(() => {
  vi.useRealTimers()
})

describe('Scheduler', () => {
  it('hands at most the limit to an executor; a task is running only once its job started', async () => {
    newScheduler({ loop: 2 })
    const [a, b, c] = ['a', 'b', 'c'].map((name) => add({ name }))
    await settle()
    expect(handed()).toEqual(['a', 'b'])
    expect(a!.state).toBe('pending')
    runOf(a!).start()
    expect(a!.state).toBe('running')
    expect(scheduler.activeCount('loop')).toBe(1)
    expect(scheduler.queuedCount('loop')).toBe(2) // b handed but not started, c queued
    runOf(a!).finish({ ok: 1 })
    await settle()
    expect(a!.state).toBe('done')
    expect(a!.result).toEqual({ ok: 1 })
    expect(handed()).toEqual(['a', 'b', 'c'])
    expect([b!.state, c!.state]).toEqual(['pending', 'pending'])
    expect(scheduler.counters).toMatchObject({ pending: 2, done: 1 })
  })

  it('starts the highest priority first, in submission order among equals', async () => {
    newScheduler({ loop: 0 })
    for (const [name, priority] of [['low', 0], ['high', 5], ['low2', 0], ['higher', 9]] as const) add({ name, priority })
    scheduler.setLimits({ loop: 1 })
    for (let i = 0; i < 4; i++) {
      await settle()
      runOf(scheduler.tasks.get(handed().at(-1)!)!).start().finish(null)
    }
    await settle()
    expect(handed()).toEqual(['higher', 'high', 'low', 'low2'])
  })

  it('a pending task cancels at once; a running one is asked, then forced after its grace', async () => {
    newScheduler({}, 1000)
    scheduler.setLimits({ thread: 1 })
    const running = add({ name: 'running', killGraceMs: 300 }, 'thread')
    const pending = add({ name: 'queued' }, 'thread')
    await settle()
    runOf(running, 'thread').start()
    scheduler.cancel(pending, 'user')
    expect(pending.state).toBe('cancelled')
    scheduler.cancel(running, 'user')
    expect(running.state).toBe('cancelling')
    expect(runOf(running, 'thread').cancelled).toBe(true)
    vi.advanceTimersByTime(299)
    expect(runOf(running, 'thread').killed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(runOf(running, 'thread').killed).toBe(true)
    await settle()
    expect([running.state, running.reason]).toEqual(['cancelled', 'user'])
    expect(finished).toEqual(['queued', 'running'])
  })

  it('a job that cannot be forced (loop) is marked cancelled and flagged after the grace', async () => {
    newScheduler({}, 500)
    const t = add({ name: 'stubborn' })
    await settle()
    runOf(t).start()
    scheduler.cancel(t, 'user')
    vi.advanceTimersByTime(500)
    await settle()
    expect([t.state, t.reason, t.ignoredCancel]).toEqual(['cancelled', 'user', true])
  })

  it('a job that finishes despite the cancel request is done', async () => {
    newScheduler()
    const t = add({ name: 'quick' })
    await settle()
    runOf(t).start()
    scheduler.cancel(t, 'user')
    runOf(t).finish(42)
    await settle()
    expect([t.state, t.result]).toEqual(['done', 42])
  })

  it('a timeout counts from the start and fails the task with reason timeout', async () => {
    newScheduler({ loop: 1 })
    const first = add({ name: 'first' })
    const timed = add({ name: 'timed', timeoutMs: 100 })
    await settle()
    vi.advanceTimersByTime(1000) // queued a long time: no timeout yet
    runOf(first).start().finish(null)
    await settle()
    runOf(timed).start()
    vi.advanceTimersByTime(100)
    expect([timed.state, timed.reason]).toEqual(['cancelling', 'timeout'])
    runOf(timed).fail(new Error('aborted'))
    await settle()
    expect([timed.state, timed.reason, timed.error?.message]).toEqual(['failed', 'timeout', 'timed out after 100 ms'])
  })

  it('retries a failed attempt with exponential backoff, then reports the last error', async () => {
    newScheduler()
    const t = add({ name: 'flaky', retries: 2, retryDelayMs: 100 })
    await settle()
    runOf(t).start().fail(new Error('one'))
    await settle()
    expect([t.state, t.attempt]).toEqual(['pending', 2])
    vi.advanceTimersByTime(99)
    await settle()
    expect(handed()).toHaveLength(1)
    vi.advanceTimersByTime(1)
    await settle()
    expect(handed()).toHaveLength(2)
    runOf(t).start().fail(new Error('two'))
    await settle()
    vi.advanceTimersByTime(199) // the second delay doubles
    await settle()
    expect(handed()).toHaveLength(2)
    vi.advanceTimersByTime(1)
    await settle()
    runOf(t).start().fail(new TaskFailure('crashed', 'three'))
    await settle()
    expect([t.state, t.reason, t.attempt, t.error?.message]).toEqual(['failed', 'crashed', 3, 'three'])
    expect(t.attempts.map((a) => a.outcome)).toEqual(['pending', 'pending', 'failed'])
  })

  it('a task waits for its dependencies, gets their results, and is cancelled when one fails', async () => {
    newScheduler()
    const a = add({ name: 'a' })
    const b = add({ name: 'b' })
    const c = add({ name: 'c', after: ['a', 'b'] })
    const d = add({ name: 'd', after: ['c'] })
    await settle()
    expect(handed()).toEqual(['a', 'b'])
    runOf(a).start().finish('A')
    runOf(b).start().finish('B')
    await settle()
    expect(runOf(c).request.inputs).toEqual(['A', 'B'])
    runOf(c).start().fail(new Error('no'))
    await settle()
    expect([d.state, d.reason]).toEqual(['cancelled', 'dependency'])
  })

  it("a batch's concurrency gates its tasks; fail-fast cancels the rest on the first failure", async () => {
    newScheduler()
    scheduler.addBatch('b1', { name: 'pages', concurrency: 2, returnWhen: 'firstError', timeoutMs: null, onSettled: 'cancel' })
    const batch = { id: 'b1', failFast: true }
    const ts = ['p1', 'p2', 'p3', 'p4'].map((name) => add({ name }, 'loop', batch))
    await settle()
    expect(handed()).toEqual(['p1', 'p2'])
    runOf(ts[0]!).start().finish(1)
    await settle()
    expect(handed()).toEqual(['p1', 'p2', 'p3'])
    runOf(ts[1]!).start().fail(new Error('boom'))
    await settle()
    expect(ts.map((t) => t.state)).toEqual(['done', 'failed', 'cancelled', 'cancelled'])
    expect(ts[3]!.reason).toBe('fail-fast')
    expect(scheduler.batch('b1')).toMatchObject({ state: 'failed', total: 4, progress: 1, results: [
        1,
        { error: { name: 'Error', message: 'boom', code: null } },
        { error: { name: 'CancelledError', message: 'cancelled (fail-fast)', code: 'fail-fast' } },
        { error: { name: 'CancelledError', message: 'cancelled (fail-fast)', code: 'fail-fast' } },
      ],
      settledBy: 'firstError',
    })
  })

  it('a group limit set live holds the group; removing it lets the rest go', async () => {
    newScheduler()
    scheduler.limitGroup('crawl', 1)
    const ts = ['g1', 'g2', 'g3'].map((name) => add({ name, group: 'crawl' }))
    const free = add({ name: 'free' })
    await settle()
    expect(handed()).toEqual(['g1', 'free'])
    expect(scheduler.groupLimits()).toEqual({ crawl: 1 })
    scheduler.limitGroup('crawl', null)
    await settle()
    expect(handed()).toEqual(['g1', 'free', 'g2', 'g3'])
    expect(scheduler.groupLimits()).toEqual({})
    expect(ts.every((t) => t.state === 'pending') && free.state === 'pending').toBe(true)
  })

  it('paused, nothing new starts and runs sent ahead come back; resumed, they go', async () => {
    newScheduler({ loop: 1 })
    const a = add({ name: 'a' })
    await settle()
    scheduler.setPaused(true)
    expect(runOf(a).withdrawn).toBe(true) // the handed, unstarted run is taken back
    const b = add({ name: 'b' })
    await settle()
    expect(handed()).toEqual(['a'])
    scheduler.setPaused(false)
    await settle()
    expect(handed()).toEqual(['a', 'a'])
    expect([a.state, b.state]).toEqual(['pending', 'pending'])
  })

  it('paused, a run its worker has just taken is not taken back: it starts where it is, once', async () => {
    newScheduler({ loop: 1 })
    const a = add({ name: 'a' })
    await settle()
    runOf(a).taken = true
    scheduler.setPaused(true)
    await settle()
    expect(runOf(a).withdrawn).toBe(false)
    scheduler.setPaused(false)
    await settle()
    expect(handed()).toEqual(['a']) // not sent a second time
    runOf(a).start()
    runOf(a).finish('ok')
    await settle()
    expect(a.state).toBe('done')
  })

  it('idle() resolves once nothing handed is left; drained, failures are not retried', async () => {
    newScheduler()
    const t = add({ name: 't', retries: 5 })
    await settle()
    let idle = false
    void scheduler.idle().then(() => (idle = true))
    runOf(t).start()
    scheduler.drain()
    runOf(t).fail(new Error('late'))
    await settle()
    expect(t.state).toBe('failed')
    expect(idle).toBe(true)
  })

  it('a lowered limit takes back runs sent ahead and starts nothing while as many run as the limit', async () => {
    newScheduler({ thread: 3 })
    executors.thread.prefetch = 1
    const ts = Array.from({ length: 8 }, (_, i) => add({ name: `t${i}` }, 'thread'))
    await settle()
    expect(handed('thread')).toEqual(['t0', 't1', 't2', 't3', 't4', 't5'])
    for (const t of ts.slice(0, 3)) runOf(t, 'thread').start()
    scheduler.setLimits({ thread: 1 })
    expect(['t3', 't4', 't5'].map((id) => executors.thread.runs.find((r) => r.id === id)!.withdrawn)).toEqual([true, true, true])
    await settle()
    runOf(ts[0]!, 'thread').finish(null)
    await settle()
    runOf(ts[1]!, 'thread').finish(null)
    await settle()
    expect(handed('thread')).toHaveLength(6) // one still runs: the limit is reached
    runOf(ts[2]!, 'thread').finish(null)
    await settle()
    // Back under the limit: the next in order, and one sent ahead again.
    expect(handed('thread').slice(6)).toEqual(['t3', 't4'])
    expect(scheduler.queuedCount('thread')).toBe(5)
  })

  it('a raised limit hands the waiting tasks over at once, in priority then submission order', async () => {
    newScheduler({ thread: 1 })
    executors.thread.prefetch = 1
    const a = add({ name: 'a' }, 'thread')
    await settle()
    runOf(a, 'thread').start()
    for (const [name, priority] of [['b', 0], ['c', 0], ['d', 0], ['e', 5]] as const) add({ name, priority }, 'thread')
    await settle()
    expect(handed('thread')).toEqual(['a', 'e']) // e sent ahead
    scheduler.setLimits({ thread: 3 })
    await settle()
    // e was taken back and sent again with the others, in order, up to 3 × (1 + 1) runs.
    expect(handed('thread')).toEqual(['a', 'e', 'e', 'b', 'c', 'd'])
  })

  it('every pending task says why it waits, with an event only when that changes', async () => {
    newScheduler({ loop: 1 })
    const changed = vi.spyOn(events, 'changedTask')
    scheduler.addBatch('b1', { name: 'pages', concurrency: 1, returnWhen: 'all', timeoutMs: null, onSettled: 'cancel' })
    scheduler.limitGroup('g', 1)
    const running = add({ name: 'running' })
    const queued = add({ name: 'queued', priority: -1 })
    const chained = add({ name: 'chained', after: ['running'] })
    const [b1, b2] = ['b1', 'b2'].map((name) => add({ name }, 'thread', { id: 'b1', failFast: false }))
    const [g1, g2] = ['g1', 'g2'].map((name) => add({ name, group: 'g' }, 'process'))
    const flaky = add({ name: 'flaky', retries: 1, retryDelayMs: 1000 }, 'command')
    await settle()
    runOf(running).start()
    for (const t of [b1!, g1!, flaky]) runOf(t, t.executor).start()
    runOf(flaky, 'command').fail(new Error('once'))
    await settle()
    const why = () => [running, queued, chained, b2!, g2!, flaky].map((t) => t.waiting)
    expect(why()).toEqual([null, 'executor-limit', 'dependency', 'batch-slot', 'group-limit', 'retry-backoff'])
    scheduler.setPaused(true)
    expect(queued.waiting).toBe('paused')
    changed.mockClear()
    scheduler.setPaused(true)
    await settle()
    expect(changed).not.toHaveBeenCalled() // unchanged: no event
    scheduler.setPaused(false)
    expect(queued.waiting).toBe('executor-limit')
    expect(changed.mock.calls.map(([t]) => t.name)).toEqual(['queued'])
    expect(queued.snapshot().waiting).toBe('executor-limit')
    runOf(running).finish(null)
    await settle()
    runOf(chained).start() // before `queued`: a higher priority
    expect([chained.waiting, queued.waiting]).toEqual([null, 'executor-limit'])
    expect(EXECUTORS.map((k) => scheduler.queuedCount(k))).toEqual([1, 1, 1, 1])
  })

  it('counters always add up to the tasks it holds', async () => {
    newScheduler({ loop: 3 })
    const ts = Array.from({ length: 20 }, (_, i) => add({ name: `t${i}` }))
    await settle()
    for (const r of executors.loop.runs.slice(0, 2)) r.start().finish(null)
    scheduler.cancel(ts[10]!, 'user')
    runOf(ts[2]!).start()
    await settle()
    const sum = Object.values(scheduler.counters).reduce((a, b) => a + b, 0)
    expect(sum).toBe(scheduler.tasks.size)
    expect(scheduler.counters).toMatchObject({ done: 2, running: 1, cancelled: 1, pending: 16 })
  })
})
