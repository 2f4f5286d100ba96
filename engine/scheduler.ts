// Where a task's life is decided: queued, started on its executor within the limit, stopped
// (cancel → grace → force), retried, chained after others, gated by its batch, finished.
// Every transition goes through move(), which keeps the counters and the event batches true.
import {
  emptyCounters,
  type BatchSnapshot,
  EXECUTORS,
  type CancelReason,
  type Counters,
  type ExecutorKind,
  type FailReason,
  type Limits,
  type LogLine,
  type ReturnWhen,
  type TaskError,
  type TaskReason,
  type TaskState,
  type Waiting,
} from '../common/types'
import { failedRun, TaskFailure, type Executor, type Run, type RunHooks } from './executors/executor'
import type { EventBatcher } from './events'
import { Gate } from './gate'
import { TaskQueue } from './queue'
import type { TaskLogs } from './task-log'
import { gathered, INTERRUPTED_MESSAGE, type Task } from './task'

const NO_GATES: readonly Gate[] = []
/** The inputs of every run without `after`: one frozen array, not one each (executors copy what a job gets). */
const NO_INPUTS = Object.freeze([]) as unknown as unknown[]

/** After a forced stop the run should settle at once; if it does not, it is abandoned after this. */
const FORCE_SETTLE_MS = 3000
const MAX_RETRY_DELAY_MS = 3_600_000

/** What a handed run tells its scheduler: one set of functions per scheduler, not per run. */
interface RunEvents {
  started(task: Task, h: Handoff, label: string | null): void
  progress(task: Task, fraction: number | null, message: string | undefined): void
  log(task: Task, line: string, stream: LogLine['stream']): void
}

/**
 * One run handed to an executor. Pools take a few runs ahead of their workers, so a handed task
 * stays pending until its executor says the job started (hooks.worker): states stay honest.
 * It is the run's hooks too, so handing a run over makes no closures.
 */
class Handoff implements RunHooks {
  /** The scheduler still follows this run (not disowned by a cancel, a pause, or its settlement). */
  live = true
  started = false
  /** Its place under the executor's limit was given back. */
  released = false
  /** Started before its executor's limit was lowered: it may be on a worker that is leaving. */
  legacy = false

  constructor(
    readonly task: Task,
    readonly kind: ExecutorKind,
    private readonly to: RunEvents,
  ) {}

  worker(label: string): void {
    this.to.started(this.task, this, label)
  }

  progress(fraction: number | null, message?: string): void {
    if (this.live && this.started) this.to.progress(this.task, fraction, message)
  }

  log(line: string, stream: LogLine['stream'] = 'log'): void {
    if (this.live) this.to.log(this.task, line, stream)
  }
}

/** How a batch is gathered and when it settles (asyncio.wait's return_when and timeout). */
export interface BatchConfig {
  name: string
  concurrency: number
  returnWhen: ReturnWhen
  timeoutMs: number | null
  onSettled: 'cancel' | 'leave'
}

interface BatchState extends BatchConfig {
  members: Task[]
  /** The batch's concurrency: a semaphore over its tasks (asyncio's Semaphore). */
  gate: Gate
  /**
   * [gate]: what its members without a group limit pass, made once per batch rather than per task;
   * none when the gate can never hold one (its concurrency covers every member, the default).
   */
  gates: readonly Gate[]
  /** Finished members, in the order they finished (as_completed). */
  completed: Task[]
  /** false after restored members were added: `completed` is put in finish order when next read. */
  restoredOrder?: boolean
  settledBy: ReturnWhen | 'timeout' | null
  timer: NodeJS.Timeout | null
}

export interface SchedulerOptions {
  executors: Record<ExecutorKind, Executor>
  limits: Limits
  killGraceMs: number
  events: EventBatcher
  logs: TaskLogs
  /**
   * Told the tasks of one scheduling turn just before they are handed to their executors, so the
   * engine can make their start durable first (one store write per turn, not per task).
   */
  onClaim?(tasks: Task[]): void
  /** Told about every forced stop (terminate / SIGKILL / abandoned loop job). */
  onForced?(task: Task): void
  onFinished?(task: Task): void
  /** A batch settled (its returnWhen was met, or its timeout passed), or one of its members finished. */
  onBatchChanged?(id: string): void
}

export class Scheduler {
  readonly tasks = new Map<string, Task>()
  readonly counters: Counters = emptyCounters()
  readonly limits: Limits
  private readonly queues = Object.fromEntries(EXECUTORS.map((e) => [e, new TaskQueue()])) as Record<ExecutorKind, TaskQueue>
  /** Runs handed to each executor and not yet released (started or sent ahead). */
  private readonly handed = Object.fromEntries(EXECUTORS.map((e) => [e, 0])) as Record<ExecutorKind, number>
  /** Of those, the ones whose job started (running + cancelling). */
  private readonly active = Object.fromEntries(EXECUTORS.map((e) => [e, 0])) as Record<ExecutorKind, number>
  /** Pending tasks of each executor, wherever they wait. */
  private readonly pendingOf = Object.fromEntries(EXECUTORS.map((e) => [e, 0])) as Record<ExecutorKind, number>
  /**
   * Runs started before their executor's limit was lowered and still going. While any is left the
   * executor gets no runs sent ahead, only up to its limit: a pool's leaving worker may still run
   * one, and a run sent ahead to another worker would start beside it, past the limit.
   */
  private readonly legacy = Object.fromEntries(EXECUTORS.map((e) => [e, 0])) as Record<ExecutorKind, number>
  private readonly handoffs = new Map<Task, Handoff>()
  private readonly dependents = new Map<string, Task[]>()
  /** Tasks a job submitted (ctx.submit), by the parent's id: all of them, detached ones too. */
  private readonly children = new Map<string, string[]>()
  private readonly batches = new Map<string, BatchState>()
  /** Per-group concurrency limits; groups without one are not gated. */
  private readonly groups = new Map<string, Gate>()
  /**
   * How many of its gates (gatesOf) each task passed, to leave them when it finishes. Gates are
   * passed in order and a task's list only grows at its end (a group limit set later), so the
   * ones passed are always the first n.
   */
  private readonly passed = new Map<Task, number>()
  private paused = false
  private dispatchQueued = false
  /** Set at shutdown: nothing new starts and failed attempts are not retried. */
  private draining = false
  private idleWaiters: (() => void)[] = []

  constructor(private readonly o: SchedulerOptions) {
    this.limits = { ...o.limits }
  }

  /** Tasks started and not yet settled, per executor (running + cancelling). */
  activeCount(kind: ExecutorKind): number {
    return this.active[kind]
  }

  /** Pending tasks of an executor, whatever holds them: queue, pool, gate, dependency, pause, retry delay. */
  queuedCount(kind: ExecutorKind): number {
    return this.pendingOf[kind]
  }

  /**
   * `createdAt`: when it was submitted, which its timeoutMs counts from (a restored batch's is in the past).
   * `size`: how many members it will have, when known (a batch gets its members once, at its submit).
   */
  addBatch(id: string, config: BatchConfig, createdAt = Date.now(), size = Infinity): void {
    const gate = new Gate(config.concurrency, 'batch-slot')
    const gates = config.concurrency >= size ? NO_GATES : [gate]
    const b: BatchState = { ...config, members: [], gate, gates, completed: [], settledBy: null, timer: null }
    this.batches.set(id, b)
    if (config.timeoutMs !== null) {
      const due = Math.max(0, createdAt + config.timeoutMs - Date.now())
      // A restored batch may have finished before this start: then nothing timed out.
      b.timer = setTimeout(() => this.settleBatch(id, b, b.completed.length === b.members.length ? 'all' : 'timeout'), due)
      // A batch's deadline alone must not keep the engine thread alive.
      b.timer.unref()
    }
  }

  /** A batch's progress and its results in submission order (asyncio.gather). */
  batch(id: string): BatchSnapshot | null {
    const b = this.batches.get(id)
    if (!b) return null
    const counters = emptyCounters()
    for (const m of b.members) counters[m.state]++
    const finished = counters.done + counters.failed + counters.cancelled
    const total = b.members.length
    const state =
      finished < total ? 'running' : counters.done === total ? 'done' : counters.failed > 0 ? 'failed' : 'cancelled'
    return {
      id,
      name: b.name,
      total,
      concurrency: b.gate.limit,
      failFast: b.returnWhen === 'firstError',
      returnWhen: b.returnWhen,
      timeoutMs: b.timeoutMs,
      onSettled: b.onSettled,
      // A restored batch whose tasks had all finished settled before this start.
      settledBy: b.settledBy ?? (finished === total ? 'all' : null),
      counters,
      progress: total === 0 ? 1 : finished / total,
      state,
      taskIds: b.members.map((m) => m.id),
      completed: this.finishOrder(b).map((m) => m.id),
      results: b.members.map(gathered),
    }
  }

  /**
   * The finish order of a restored batch is as near as the store says: by end time, and within
   * one millisecond the tasks a settle cancelled after the task that settled it. Sorted once, when
   * read, not per restored task.
   */
  private finishOrder(b: BatchState): Task[] {
    if (b.restoredOrder === false) {
      const settledLater = (t: Task): number => (t.reason === 'fail-fast' || t.reason === 'batch-settled' ? 1 : 0)
      b.completed.sort((x, y) => (x.endedAt ?? 0) - (y.endedAt ?? 0) || settledLater(x) - settledLater(y))
      b.restoredOrder = true
    }
    return b.completed
  }

  /**
   * A member reached a final state: note the finish order, and settle the batch if its returnWhen
   * is met. "first" counts a member that finished (done or failed), not one cancelled: cancelling
   * one racer does not end the race. At shutdown nothing settles: the rest end as "shutdown".
   */
  private memberFinished(id: string, b: BatchState, task: Task): void {
    b.completed.push(task)
    if (b.settledBy === null && !this.draining) {
      if (b.completed.length === b.members.length) this.settleBatch(id, b, 'all')
      else if (b.returnWhen === 'first' && task.state !== 'cancelled') this.settleBatch(id, b, 'first')
      else if (b.returnWhen === 'firstError' && task.state === 'failed') this.settleBatch(id, b, 'firstError')
    }
    this.o.onBatchChanged?.(id)
  }

  /**
   * The batch's wait is over: unfinished members are cancelled (fail-fast after a failure,
   * batch-settled after the first finish or the timeout), or left running with onSettled "leave".
   */
  private settleBatch(id: string, b: BatchState, by: ReturnWhen | 'timeout'): void {
    if (b.settledBy !== null) return
    b.settledBy = by
    if (b.timer) clearTimeout(b.timer)
    b.timer = null
    if (by !== 'all' && b.onSettled === 'cancel') {
      const reason = by === 'firstError' ? 'fail-fast' : 'batch-settled'
      for (const m of b.members) if (!m.final) this.cancel(m, reason)
    }
    this.o.onBatchChanged?.(id)
  }

  /**
   * Registers new pending tasks, then links their `after` dependencies, so tasks of one submit
   * may depend on each other (the engine refused unknown ids and cycles).
   */
  add(tasks: Task[]): void {
    for (const task of tasks) {
      this.tasks.set(task.id, task)
      this.counters.pending++
      this.pendingOf[task.executor]++
      this.o.events.changedTask(task)
      if (task.batch) this.batches.get(task.batch.id)!.members.push(task)
      const parent = task.spec.parent
      if (parent) {
        const list = this.children.get(parent)
        if (list) list.push(task.id)
        else this.children.set(parent, [task.id])
      }
    }
    for (const task of tasks) this.link(task)
  }

  private link(task: Task): void {
    const after = task.spec.after
    if (after === undefined || after.length === 0) return this.dependenciesFinal(task)
    const when = task.spec.afterWhen ?? 'done'
    for (const depId of after) {
      const dep = this.tasks.get(depId)
      // A dependency pruned from history cannot feed this task; one that failed or was cancelled
      // cannot feed one that runs only when all are done.
      if (!dep || (dep.final && dep.state !== 'done' && when === 'done')) {
        this.cancel(task, 'dependency')
        return
      }
      if (dep.final) continue
      task.waitingOn++
      const list = this.dependents.get(depId)
      if (list) list.push(task)
      else this.dependents.set(depId, [task])
    }
    if (task.waitingOn === 0) this.dependenciesFinal(task)
    else this.hold(task, 'dependency')
  }

  /** Every `after` task is final (and, for "done", done): a "failed" follower runs only if one failed. */
  private dependenciesFinal(task: Task): void {
    if (task.spec.afterWhen === 'failed' && !(task.spec.after ?? []).some((id) => this.tasks.get(id)?.state === 'failed')) {
      this.cancel(task, 'dependency')
    } else {
      this.ready(task)
    }
  }

  /** A task restored from the store in a final state: history only, nothing to schedule. */
  addFinished(task: Task): void {
    this.tasks.set(task.id, task)
    this.counters[task.state]++
    const b = task.batch && this.batches.get(task.batch.id)
    if (b) {
      b.members.push(task)
      // Put in finish order when next read (finishOrder).
      b.completed.push(task)
      b.restoredOrder = false
    }
    if (task.spec.parent) {
      const list = this.children.get(task.spec.parent)
      if (list) list.push(task.id)
      else this.children.set(task.spec.parent, [task.id])
    }
  }

  /** Ids of the tasks this task's job submitted (ctx.submit). */
  childrenOf(id: string): string[] {
    return this.children.get(id) ?? []
  }

  /** Forgets finished tasks (retention); their dependents were settled when they finished. Returns the ids it held. */
  forget(ids: string[]): string[] {
    const gone: string[] = []
    for (const id of ids) {
      const t = this.tasks.get(id)
      if (!t?.final) continue
      this.tasks.delete(id)
      this.children.delete(id)
      this.counters[t.state]--
      gone.push(id)
    }
    return gone
  }

  /** Cancel is a request: pending tasks end now, running ones are asked and then forced after the grace. */
  cancel(task: Task, reason: CancelReason, graceMs?: number): void {
    // A pool may hold a started run's reports for a few ms: heard first, it is stopped as running.
    if (task.state === 'pending') task.run?.heard?.()
    if (task.state === 'pending') {
      // Sent ahead to a pool and not started: the run ends there without its job being called.
      const run = this.disown(task)
      this.move(task, 'cancelled', reason)
      this.finished(task)
      run?.cancel()
    } else if (task.state === 'running') {
      this.stop(task, reason, graceMs)
    } else return
    // What its job submitted goes with it, unless submitted detached.
    for (const id of this.children.get(task.id) ?? []) {
      const child = this.tasks.get(id)
      if (child && !child.spec.detached) this.cancel(child, 'parent', graceMs)
    }
  }

  drain(): void {
    this.draining = true
  }

  /**
   * A shutdown that keeps the queue stops a running task as a crash would have: when it stops it
   * goes back to pending (spec onInterrupt "requeue") for the next start, or fails as interrupted.
   */
  interrupt(task: Task, graceMs?: number): void {
    if (task.state === 'running') this.stop(task, 'interrupted', graceMs)
  }

  /** Forces every stop in progress now (shutdown deadline, second Ctrl+C). */
  forceAll(): void {
    for (const t of this.tasks.values()) if (t.state === 'cancelling') this.force(t)
  }

  /**
   * A new limit holds from the next scheduling turn: runs sent ahead and not started come back to
   * the queue and go out again in priority order, up to the new limit; a lowered limit lets the
   * running tasks finish and starts nothing new until fewer than the limit run.
   */
  setLimits(limits: Partial<Limits>): void {
    for (const kind of EXECUTORS) {
      const n = limits[kind]
      if (n === undefined) continue
      const lowered = n < this.limits[kind]
      this.limits[kind] = n
      for (const [task, h] of [...this.handoffs]) {
        if (h.kind !== kind) continue
        if (!h.started) this.takeBack(task)
        else if (lowered && !h.legacy) {
          h.legacy = true
          this.legacy[kind]++
        }
      }
      this.o.executors[kind].resize(n)
    }
    this.o.events.changedLimits(this.limits)
    this.scheduleDispatch()
  }

  /** Resolves when nothing is running or cancelling. */
  idle(): Promise<void> {
    if (EXECUTORS.every((k) => this.handed[k] === 0)) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Sets (or with null removes) a group's concurrency limit, live. */
  limitGroup(group: string, limit: number | null): void {
    let gate = this.groups.get(group)
    if (limit === null) {
      if (gate) gate.limit = Infinity
    } else if (gate) {
      gate.limit = limit
    } else {
      gate = new Gate(limit, 'group-limit')
      this.groups.set(group, gate)
    }
    if (gate) this.admitted(gate, gate.admit())
  }

  groupLimits(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [g, gate] of this.groups) if (gate.limit !== Infinity) out[g] = gate.limit
    return out
  }

  /** Pause intake: running tasks go on, nothing new starts until resume. */
  setPaused(paused: boolean): void {
    this.paused = paused
    // Runs sent ahead and not started come back to the queue: nothing new starts while paused.
    if (paused) {
      for (const [task, h] of [...this.handoffs]) if (!h.started) this.takeBack(task)
    }
    const why = paused ? 'paused' : 'executor-limit'
    for (const kind of EXECUTORS) this.queues[kind].forEach((t) => this.hold(t, why))
    this.scheduleDispatch()
  }

  /**
   * A run sent ahead and not started comes back to its executor's queue, if its executor can tell
   * that it never starts. One its worker has just taken runs on where it is: sent again, it would
   * run twice.
   */
  private takeBack(task: Task): void {
    const h = this.handoffs.get(task)
    if (!h) return
    const back = task.run?.withdraw?.()
    if (back === true) return this.backToQueue(task)
    if (!back) return
    void back.then((yes) => {
      if (!yes || !h.live || h.started) return
      this.backToQueue(task)
      this.scheduleDispatch()
    })
  }

  private backToQueue(task: Task): void {
    this.disown(task)
    this.queues[task.executor].push(task)
  }

  /** Says why a pending task waits; an event only when that changes. */
  private hold(task: Task, why: Waiting): void {
    if (task.waiting === why) return
    task.waiting = why
    this.o.events.changedTask(task)
  }

  /** Nothing pending (queued, held, or handed and not started) and no run out on any executor. */
  get drained(): boolean {
    return this.counters.pending === 0 && EXECUTORS.every((k) => this.handed[k] === 0)
  }

  get isPaused(): boolean {
    return this.paused
  }

  /** A task whose dependencies are met goes through its batch gate, then its group gate, then to its queue. */
  private ready(task: Task): void {
    this.pass(task, this.gatesOf(task), 0)
  }

  /** The gates a task passes, in order: its batch's, then its group's (often a shared array: not to be changed). */
  private gatesOf(task: Task): readonly Gate[] {
    const batch = task.batch && this.batches.get(task.batch.id)
    const group = task.spec.group !== undefined ? this.groups.get(task.spec.group) : undefined
    if (!group) return batch ? batch.gates : NO_GATES
    return batch && batch.gates.length > 0 ? [batch.gate, group] : [group]
  }

  private pass(task: Task, gates: readonly Gate[], from: number): void {
    for (let i = from; i < gates.length; i++) {
      if (!gates[i]!.enter(task)) return this.hold(task, gates[i]!.holds)
      this.passed.set(task, i + 1)
    }
    this.enqueue(task)
  }

  /** Tasks a gate let through after holding them: on to their next gate, or their queue. */
  private admitted(gate: Gate, tasks: readonly Task[]): void {
    for (const t of tasks) {
      const gates = this.gatesOf(t)
      const at = gates.indexOf(gate)
      this.passed.set(t, at + 1)
      this.pass(t, gates, at + 1)
    }
  }

  private enqueue(task: Task): void {
    this.queues[task.executor].push(task)
    this.hold(task, this.paused ? 'paused' : 'executor-limit')
    this.scheduleDispatch()
  }

  /**
   * Once per event-loop turn: the runs that settled in one turn (a burst of timers, a pool's
   * replies) free their places together, so one claim write covers all the tasks started next.
   */
  private scheduleDispatch(): void {
    if (this.dispatchQueued) return
    this.dispatchQueued = true
    setImmediate(this.dispatchQueuedTurn)
  }

  /** One function for every scheduleDispatch (asked once per settled run): no closure made each time. */
  private readonly dispatchQueuedTurn = (): void => {
    this.dispatchQueued = false
    this.dispatch()
  }

  /** Claims and starts what can start, in this turn rather than the next (a cluster task a node took to run). */
  claimNow(): void {
    this.dispatch()
  }

  /** How many runs dispatch may hand this executor now (0 until its top-up is due). */
  private room(kind: ExecutorKind): number {
    const limit = this.limits[kind]
    // After a limit was lowered, nothing is sent ahead until the runs above it have ended.
    const ahead = this.legacy[kind] > 0 ? 0 : limit * (this.o.executors[kind].prefetch ?? 0)
    const cap = limit + ahead
    // A pool with runs sent ahead is topped up once half of them went: one claim write per
    // half-buffer, not per run, and its workers still never wait for the scheduler.
    if (ahead > 1 && this.handed[kind] > cap - (ahead >> 1)) return 0
    return cap - this.handed[kind]
  }

  private dispatch(): void {
    if (this.draining || this.paused) return
    const claimed: Task[] = []
    for (const kind of EXECUTORS) {
      const queue = this.queues[kind]
      for (let room = this.room(kind); room > 0; room--) {
        const task = queue.pop()
        if (!task) break
        claimed.push(task)
      }
    }
    if (claimed.length === 0) return
    // Claimed before any job starts: after a crash, a task that may have run is never run again unasked.
    this.o.onClaim?.(claimed)
    for (const task of claimed) this.start(task)
  }

  private readonly runEvents: RunEvents = {
    started: (task, h, label) => this.started(task, h, label),
    progress: (task, fraction, message) => {
      task.progress = fraction
      if (message !== undefined) task.progressMessage = message
      this.o.events.changedTask(task)
    },
    log: (task, line, stream) => this.o.logs.append(task.id, line, stream),
  }

  /** Hands the task to its executor; it stays pending until the executor says the job started. */
  private start(task: Task): void {
    const kind = task.executor
    const h = new Handoff(task, kind, this.runEvents)
    this.handed[kind]++
    this.handoffs.set(task, h)
    // Results, or error slots for an "always"/"failed" follower (a "done" one only runs after successes).
    const after = task.spec.after
    const inputs = after === undefined || after.length === 0 ? NO_INPUTS : after.map((id) => {
      const dep = this.tasks.get(id)
      return dep ? gathered(dep) : null
    })
    let run: Run
    try {
      run = this.o.executors[kind].start({ taskId: task.id, attempt: task.attempt, spec: task.spec, inputs }, h)
    } catch (e) {
      run = failedRun(e)
    }
    if (h.live) task.run = run
    run.result.then(
      (value) => this.settle(task, h, true, value),
      (error: unknown) => this.settle(task, h, false, error),
    )
  }

  /** The executor started the job: now the task is running, and its timeout counts. */
  private started(task: Task, h: Handoff, label: string | null): void {
    if (!h.live || h.started || task.state !== 'pending') return
    h.started = true
    this.active[h.kind]++
    task.progress = null
    task.progressMessage = null
    task.worker = label
    this.move(task, 'running')
    const { timeoutMs } = task.spec
    if (timeoutMs !== undefined) task.addTimer(setTimeout(() => this.stop(task, 'timeout'), timeoutMs))
  }

  /** The scheduler stops following the task's handed run (cancelled or paused before it started). */
  private disown(task: Task): Run | null {
    const h = this.handoffs.get(task)
    if (!h) return null
    h.live = false
    this.handoffs.delete(task)
    const run = task.run
    task.run = null
    return run
  }

  /** Gives the run's place under the executor's limit back, once. */
  private release(h: Handoff): void {
    if (h.released) return
    h.released = true
    this.handed[h.kind]--
    if (h.started) this.active[h.kind]--
    if (h.legacy) this.legacy[h.kind]--
    // Only when a dispatch would hand this executor something: with runs sent ahead, most runs
    // that end (one a turn, for jobs of a millisecond or more) leave nothing to do yet.
    if (this.queues[h.kind].size > 0 && this.room(h.kind) > 0) this.scheduleDispatch()
    if (this.idleWaiters.length > 0 && EXECUTORS.every((k) => this.handed[k] === 0)) {
      for (const w of this.idleWaiters.splice(0)) w()
    }
  }

  private stop(task: Task, why: CancelReason | 'timeout' | 'interrupted', graceMs?: number): void {
    if (task.state !== 'running' || !task.run) return
    task.stopping = why
    task.cancelRequestedAt = Date.now()
    this.move(task, 'cancelling', why)
    task.run.cancel()
    const grace = graceMs ?? task.spec.killGraceMs ?? this.o.killGraceMs
    task.addTimer(setTimeout(() => this.force(task), grace))
  }

  private force(task: Task): void {
    if (task.state !== 'cancelling' || !task.run) return
    const run = task.run
    this.o.onForced?.(task)
    if (run.kill()) {
      task.addTimer(setTimeout(() => this.abandon(task), FORCE_SETTLE_MS))
    } else {
      // A loop job cannot be forced: the engine stops waiting for it and says so.
      task.ignoredCancel = true
      this.abandon(task)
    }
  }

  private abandon(task: Task): void {
    const h = this.handoffs.get(task)
    if (task.state !== 'cancelling' || !h) return
    this.o.logs.append(task.id, 'did not stop after the cancel grace; abandoned', 'log')
    this.settle(task, h, false, new TaskFailure('error', 'abandoned after the cancel grace'))
  }

  private settle(task: Task, h: Handoff, ok: boolean, value: unknown): void {
    this.release(h)
    if (!h.live) return // already settled (abandoned), or disowned by a cancel or a pause
    // Ended before it started (a command that could not spawn, a closed pool): it ran, briefly.
    if (!h.started) this.started(task, h, null)
    h.live = false
    this.handoffs.delete(task)
    const stopping = task.stopping
    if (ok) {
      task.result = value
      task.progress = 1
      this.move(task, 'done')
    } else if (stopping === 'timeout') {
      this.failOrRetry(task, 'timeout', { name: 'TimeoutError', message: `timed out after ${task.spec.timeoutMs} ms` })
    } else if (stopping === 'interrupted') {
      task.error = { message: INTERRUPTED_MESSAGE }
      if (task.spec.onInterrupt === 'requeue') {
        // Not queued here: the engine is stopping; the store keeps it pending for the next start.
        this.move(task, 'pending')
      } else {
        this.move(task, 'failed', 'interrupted')
      }
    } else if (stopping !== null) {
      this.move(task, 'cancelled', stopping)
    } else {
      const f = TaskFailure.from(value)
      this.failOrRetry(task, f.kind, toError(f))
    }
    if (task.final) this.finished(task)
  }

  /** A failed attempt: back to pending while retries last, else failed (the caller runs finished()). */
  private failOrRetry(task: Task, reason: FailReason, error: TaskError): void {
    task.error = error
    const retries = task.spec.retries ?? 0
    if (task.attempt - task.firstAttempt >= retries || this.draining) {
      this.move(task, 'failed', reason)
      return
    }
    this.o.logs.append(task.id, `attempt ${task.attempt} failed (${reason}): ${error.message}; retrying`, 'log')
    // Back to pending ends the attempt: the next run is attempt + 1.
    this.move(task, 'pending')
    const base = task.spec.retryDelayMs ?? 0
    // Exponential backoff: base, 2·base, 4·base …
    const delay = Math.min(MAX_RETRY_DELAY_MS, base * 2 ** (task.attempt - task.firstAttempt - 1))
    if (delay === 0) return this.enqueue(task)
    this.hold(task, 'retry-backoff')
    task.addTimer(setTimeout(() => task.state === 'pending' && this.enqueue(task), delay))
  }

  /** Consequences of a task reaching a final state: dependents, its batch, listeners. */
  private finished(task: Task): void {
    const deps = this.dependents.get(task.id)
    if (deps) {
      this.dependents.delete(task.id)
      for (const d of deps) {
        if (d.state !== 'pending') continue
        if (task.state !== 'done' && (d.spec.afterWhen ?? 'done') === 'done') this.cancel(d, 'dependency')
        else if (--d.waitingOn === 0) this.dependenciesFinal(d)
      }
    }
    const batch = task.batch && this.batches.get(task.batch.id)
    if (batch) this.memberFinished(task.batch!.id, batch, task)
    const passed = this.passed.get(task)
    if (passed !== undefined) {
      this.passed.delete(task)
      const gates = this.gatesOf(task)
      for (let i = 0; i < passed; i++) this.admitted(gates[i]!, gates[i]!.leave())
    }
    this.o.onFinished?.(task)
  }

  private move(task: Task, next: TaskState, reason: TaskReason | null = null): void {
    const prev = task.to(next, reason)
    this.counters[prev]--
    this.counters[next]++
    if (prev === 'pending') this.pendingOf[task.executor]--
    if (next === 'pending') this.pendingOf[task.executor]++
    this.o.events.changedTask(task)
  }
}

function toError(f: TaskFailure): TaskError {
  return {
    message: f.message,
    ...(f.stack ? { stack: f.stack } : {}),
    ...(f.errorName !== undefined ? { name: f.errorName } : {}),
    ...(f.code !== undefined ? { code: f.code } : {}),
  }
}
