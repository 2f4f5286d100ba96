// What the thread pool and the process pool share: one run per worker, lazy spawning,
// replacement of a dead or killed worker off the hot path, resize and close.
// thread-pool.ts and process-pool.ts only say how to start, message and stop one worker.
import path from 'node:path'
import type { ExecutorKind, LogLine } from '../../../common/types'
import { TaskFailure, type Executor, type Run, type RunHooks, type RunRequest } from './executor'
import { failureFrom, type FromWorker, type ToWorker } from './protocol'

export interface PoolOptions {
  /** Workers kept alive (the scheduler's limit for this executor). Default 1. */
  size?: number
  /** Base folder for relative job module paths. Default process.cwd(). */
  cwd?: string
  jobsDirs?: string[]
}

export interface WorkerEvents {
  message(msg: FromWorker): void
  /** Output the worker printed (console.log in a job). */
  output(line: string, stream: LogLine['stream']): void
  /** The worker is gone; `why` says how ("worker thread exited with code 1"). */
  exit(why: string): void
}

export interface PoolWorker {
  /** "thread 3", "pid 1234". */
  readonly label: string
  send(msg: ToWorker): void
  /** Stop now (terminate, SIGTERM then SIGKILL); `exit` follows. */
  kill(): void
  /** Stop once idle, politely. */
  retire(): void
}

interface ActiveRun {
  id: number
  hooks: RunHooks
  resolve(value: unknown): void
  reject(e: TaskFailure): void
  settled: boolean
}

interface Slot {
  worker: PoolWorker
  ready: boolean
  /** A run message waiting for the worker to finish starting. */
  queued: ToWorker | null
  run: ActiveRun | null
  /** Set by an uncaught error report just before the worker dies. */
  fatal: string | null
  gone: boolean
  /** Settles once the worker can take runs, or is gone. */
  started: Promise<void>
  exited: Promise<void>
}

export const KILLED_MESSAGE = 'terminated after the cancel grace'

export abstract class WorkerPool implements Executor {
  abstract readonly kind: ExecutorKind
  private size: number
  private readonly cwd: string
  private readonly jobsDirs: string[]
  private readonly slots = new Set<Slot>()
  private idle: Slot[] = []
  private nextRunId = 1
  private closed = false

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.size ?? 1)
    this.cwd = path.resolve(opts.cwd ?? process.cwd())
    this.jobsDirs = opts.jobsDirs ?? []
  }

  /** How to start one worker (`new Worker`, `fork`). */
  protected abstract spawnWorker(events: WorkerEvents): PoolWorker

  start(request: RunRequest, hooks: RunHooks): Run {
    const spec = request.spec
    if (!('job' in spec)) {
      return { result: Promise.reject(new TaskFailure('error', `the ${this.kind} executor runs jobs, not commands`)), cancel() {}, kill: () => false }
    }
    if (this.closed) {
      return { result: Promise.reject(new TaskFailure('error', `the ${this.kind} pool is closed`)), cancel() {}, kill: () => false }
    }
    // Defensive: the scheduler keeps within the limit, but a missing worker is spawned, never waited for.
    const slot = this.idle.pop() ?? this.spawn()
    let resolve!: (v: unknown) => void
    let reject!: (e: TaskFailure) => void
    const result = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)))
    const run: ActiveRun = { id: this.nextRunId++, hooks, resolve, reject, settled: false }
    slot.run = run
    hooks.worker(slot.worker.label)
    const msg: ToWorker = {
      type: 'run',
      id: run.id,
      request: {
        job: spec.job,
        params: spec.params ?? {},
        inputs: request.inputs,
        taskId: request.taskId,
        attempt: request.attempt,
        cwd: this.cwd,
        jobsDirs: this.jobsDirs,
      },
    }
    if (slot.ready) slot.worker.send(msg)
    else slot.queued = msg
    return {
      result,
      cancel: () => {
        if (run.settled || slot.gone) return
        if (slot.ready) return slot.worker.send({ type: 'cancel', id: run.id })
        // Still starting: the job never began, so the run simply ends and the worker stays.
        slot.queued = null
        this.settle(slot, run, new TaskFailure('error', 'cancelled before the worker started'))
        this.release(slot)
      },
      kill: () => {
        if (run.settled) return true
        this.settle(slot, run, new TaskFailure('crashed', KILLED_MESSAGE))
        this.drop(slot)
        slot.worker.kill()
        this.replenish()
        return true
      },
    }
  }

  resize(size: number): void {
    this.size = Math.max(1, Math.floor(size))
    // Shrink with idle workers first; busy ones retire when their run ends.
    while (this.slots.size > this.size && this.idle.length > 0) this.retire(this.idle.pop()!)
  }

  workers(): number {
    return this.slots.size
  }

  /** Start workers up to the pool size and wait until they can take runs (engine start, benchmarks, tests). */
  async warm(): Promise<void> {
    while (!this.closed && this.slots.size < this.size) this.idle.push(this.spawn())
    await Promise.all([...this.slots].map((s) => s.started))
  }

  async close(): Promise<void> {
    this.closed = true
    const exits: Promise<void>[] = []
    for (const slot of [...this.slots]) {
      if (slot.run && !slot.run.settled) this.settle(slot, slot.run, new TaskFailure('crashed', `the ${this.kind} pool was closed`))
      exits.push(slot.exited)
      this.drop(slot)
      slot.worker.kill()
    }
    await Promise.all(exits)
  }

  private spawn(): Slot {
    let onStarted!: () => void
    let onExit!: () => void
    const slot: Slot = {
      worker: null as unknown as PoolWorker,
      ready: false,
      queued: null,
      run: null,
      fatal: null,
      gone: false,
      started: new Promise<void>((res) => (onStarted = res)),
      exited: new Promise<void>((res) => (onExit = res)),
    }
    slot.worker = this.spawnWorker({
      message: (msg) => {
        if (msg.type === 'ready') onStarted()
        this.onMessage(slot, msg)
      },
      output: (line, stream) => slot.run?.hooks.log(line, stream),
      exit: (why) => {
        onStarted()
        onExit()
        this.onExit(slot, why)
      },
    })
    this.slots.add(slot)
    return slot
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    if (msg.type === 'ready') {
      slot.ready = true
      if (slot.queued) slot.worker.send(slot.queued)
      slot.queued = null
      return
    }
    if (msg.type === 'fatal') {
      slot.fatal = msg.message
      return
    }
    const run = slot.run
    if (!run || run.id !== msg.id || run.settled) return // late news from a run already given up
    switch (msg.type) {
      case 'progress':
        run.hooks.progress(msg.fraction, msg.message)
        break
      case 'log':
        run.hooks.log(msg.line, 'log')
        break
      case 'result':
        this.settle(slot, run, null, msg.value)
        this.release(slot)
        break
      case 'error':
        this.settle(slot, run, failureFrom(msg))
        this.release(slot)
        break
    }
  }

  private onExit(slot: Slot, why: string): void {
    const wasReady = slot.ready
    slot.ready = false
    if (slot.run && !slot.run.settled) {
      const detail = slot.fatal ? `${why}: ${slot.fatal}` : why
      this.settle(slot, slot.run, new TaskFailure('crashed', detail))
    }
    this.drop(slot)
    // A worker that never got ready means the entry itself is broken: respawning would loop.
    if (wasReady) this.replenish()
  }

  private settle(slot: Slot, run: ActiveRun, failure: TaskFailure | null, value?: unknown): void {
    if (run.settled) return
    run.settled = true
    if (slot.run === run) slot.run = null
    if (failure) run.reject(failure)
    else run.resolve(value)
  }

  /** A worker whose run ended goes back to the idle list, unless the pool shrank meanwhile. */
  private release(slot: Slot): void {
    if (slot.gone) return
    if (this.closed || this.slots.size > this.size) this.retire(slot)
    else this.idle.push(slot)
  }

  private retire(slot: Slot): void {
    this.drop(slot)
    slot.worker.retire()
  }

  /** Out of the pool's books at once; the process/thread may take a moment more to end. */
  private drop(slot: Slot): void {
    if (slot.gone) return
    slot.gone = true
    this.slots.delete(slot)
    const i = this.idle.indexOf(slot)
    if (i >= 0) this.idle.splice(i, 1)
  }

  /** Keeps the pool warm after a loss, off the hot path of the run that caused it. */
  private replenish(): void {
    setImmediate(() => {
      if (!this.closed && this.slots.size < this.size) this.idle.push(this.spawn())
    })
  }
}
