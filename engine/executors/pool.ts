// What the thread pool and the process pool share: a backlog of runs, a few sent ahead to each
// worker so it never waits a round trip between two jobs, lazy spawning, replacement of a dead or
// killed worker off the hot path (a spare, where kept), resize, close, and per-worker busy time.
// thread-pool.ts and process-pool.ts only say how to start, message and stop one worker.
import os from 'node:os'
import path from 'node:path'
import type { ExecutorKind, JobCall, LogLine, WorkerStat } from '../../common/types'
import type { JobHost } from '../job-calls'
import { add, COSTS_ON, timed } from '../costs'
import { BusyMeter } from './busy'
import { failedRun, TaskFailure, type Executor, type Run, type RunHooks, type RunRequest } from './executor'
import { CANCELLED_BEFORE_START, encodeRuns, failureFrom, WATCH_MS, type FromWorker, type RunMessage, type ToWorker } from './protocol'
import { ReportRing } from './report-ring'

export interface PoolOptions {
  /** Workers kept alive (the scheduler's limit for this executor). Default 1. */
  size?: number
  /** Base folder for relative job module paths. Default process.cwd(). */
  cwd?: string
  jobsDirs?: string[]
  /** Where the jobs' ctx calls go (queues, locks, submit, wait); without it they fail. */
  host?: JobHost
}

/** How a kind of pool uses the shared mechanism. */
export interface PoolTraits {
  /** Runs sent to a worker ahead of the one it runs (at most). */
  depth: number
  /**
   * Without shared claims a run sent ahead cannot be taken back from a busy worker: then a worker
   * holds at most about this much work (ms) beyond a first run ahead, each run counted at its
   * job's recent run time (a job not seen yet fills it alone). null: always `depth`.
   */
  aheadMs: number | null
  /** Claim cells in shared memory (threads): a queued run can be taken back from a busy worker. */
  sharedClaims: boolean
  /** Keep one worker started and idle, so a killed or crashed one is replaced without a wait. */
  spare: boolean
}

export interface WorkerEvents {
  message(msgs: FromWorker[]): void
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

/**
 * One run in the pool, and the Run handed back to the scheduler: its cancel and kill are methods,
 * not closures made per run.
 */
class PoolRun implements Run {
  /** Id of its current assignment: a run taken back and sent elsewhere gets a new one. */
  id = 0
  /** Its claim cell while assigned (shared claims only), else -1. */
  cell = -1
  /** The worker it was sent to; null while in the backlog. */
  slot: Slot | null = null
  started = false
  settled = false
  /** Times it went back to the backlog because its worker died before starting it. */
  requeued = 0
  /** Its job's calls waiting in the engine, by call number: aborted when it settles (made on a first call). */
  calls: Map<number, AbortController> | null = null
  /** What it counts against its worker's `aheadMs` while assigned. */
  expectMs = 0
  /** A withdrawal asked of its process child: told true when the child dropped it, else false. */
  withdrawn: ((back: boolean) => void) | null = null
  readonly result: Promise<unknown>
  resolve!: (value: unknown) => void
  reject!: (e: TaskFailure) => void

  constructor(
    private readonly pool: WorkerPool,
    readonly request: RunMessage['request'],
    readonly hooks: RunHooks,
  ) {
    this.result = new Promise<unknown>((res, rej) => {
      this.resolve = res
      this.reject = rej
    })
  }

  cancel(): void {
    this.pool.cancelRun(this)
  }

  kill(): boolean {
    return this.pool.killRun(this)
  }

  heard(): void {
    if (this.slot) this.pool.readHeld(this.slot)
  }

  withdraw(): boolean | Promise<boolean> {
    return this.pool.withdrawRun(this)
  }
}

interface Slot {
  worker: PoolWorker
  ready: boolean
  /** Sent to this worker and not yet answered for, in the order sent (the order it starts them). */
  runs: PoolRun[]
  /** The run the worker has started and not finished. */
  current: PoolRun | null
  /** Set by an uncaught error report just before the worker dies. */
  fatal: string | null
  gone: boolean
  /** Leaving after a shrink: gets no new runs, retires once it has none. */
  retiring: boolean
  /** Settles once the worker can take runs, or is gone. */
  started: Promise<void>
  exited: Promise<void>
  busy: BusyMeter
  /** Sum of `expectMs` of its runs. */
  expectMs: number
  /** Where the worker holds its reports (threads; see report-ring.ts), else null. */
  ring: ReportRing | null
  /** The worker's clock (performance.now()) less this thread's, ms. */
  clock: number
  /** performance.now() when it was spawned. */
  born: number
}

export const KILLED_MESSAGE = 'terminated after the cancel grace'
/** What a pool lacks after a loss (workers, its spare) is built this long after the last loss. */
const REFILL_DELAY_MS = 1000
/** A run whose worker died before starting it goes back this many times at most (a worker that dies on sight). */
const MAX_REQUEUES = 2
/** Claim cells: more than any pool has runs sent ahead (size × (depth + 1)). */
const CLAIM_CELLS = 16384
/** Workers a pool starts at once (see grow). */
const START_AT_ONCE = Math.max(1, os.availableParallelism())
/**
 * Beyond those, the next starts when one is ready or this long after the last start: a child is
 * ready in ~100-150 ms on a quiet machine, but on a loaded one its start can take seconds, and a
 * worker that waited for another's start would then put its run's start that much later.
 */
const START_GAP_MS = 150
/** Jobs whose run time a pool remembers (for `aheadMs`); past it, it starts over. */
const JOB_TIMES = 1000

export abstract class WorkerPool implements Executor {
  abstract readonly kind: Exclude<ExecutorKind, 'loop' | 'command'>
  /** Runs per worker the scheduler may hand over beyond the pool size (sent ahead, not started). */
  readonly prefetch: number
  /** A worker is refilled once it holds this many runs or fewer (it knows, and rings as it gets there). */
  private readonly refillAt: number
  private size: number
  private readonly cwd: string
  private readonly jobsDirs: string[]
  private readonly host: JobHost | null
  private readonly slots = new Set<Slot>()
  private spare: Slot | null = null
  private refillTimer: NodeJS.Timeout | null = null
  private growTimer: NodeJS.Timeout | null = null
  /** performance.now() of the last worker started by grow(). */
  private lastSpawnAt = -Infinity
  /** Runs not yet sent to a worker, oldest first. */
  private backlog: PoolRun[] = []
  private readonly claims: Int32Array | null
  private readonly freeCells: number[] = []
  /** Recent run time per job (ms), for `aheadMs`: each run moves it halfway (one slow run under load does not stick). */
  private readonly jobMs = new Map<string, number>()
  private nextRunId = 1
  private distributeQueued = false
  /** The reads of the report rings every WATCH_MS while runs are out (threads). */
  private watchTimer: NodeJS.Timeout | null = null
  private stealQueued = false
  private closed = false

  constructor(
    opts: PoolOptions,
    private readonly traits: PoolTraits,
  ) {
    this.size = Math.max(1, opts.size ?? 1)
    this.cwd = path.resolve(opts.cwd ?? process.cwd())
    this.jobsDirs = opts.jobsDirs ?? []
    this.host = opts.host ?? null
    this.prefetch = traits.depth
    this.refillAt = Math.max(1, traits.depth >> 2)
    this.claims = traits.sharedClaims ? new Int32Array(new SharedArrayBuffer(4 * CLAIM_CELLS)) : null
    if (this.claims) for (let i = CLAIM_CELLS - 1; i >= 0; i--) this.freeCells.push(i)
  }

  /** How to start one worker (`new Worker`, `fork`). */
  protected abstract spawnWorker(events: WorkerEvents): PoolWorker

  start(request: RunRequest, hooks: RunHooks): Run {
    const spec = request.spec
    if (!('job' in spec)) return failedRun(`the ${this.kind} executor runs jobs, not commands`)
    if (this.closed) return failedRun(`the ${this.kind} pool is closed`)
    const run = new PoolRun(this, { job: spec.job, params: spec.params ?? {}, inputs: request.inputs, taskId: request.taskId, attempt: request.attempt }, hooks)
    this.backlog.push(run)
    this.distributeSoon()
    return run
  }

  resize(size: number): void {
    this.size = Math.max(1, Math.floor(size))
    // Shrink with workers still starting first (a ready one is worth more than the start it cost),
    // the one started last first of those: it has the most of its start left, and a limit flipped
    // faster than a worker starts must not let go of the oldest start each time (none would ever
    // get ready). Then idle ones; busy ones leave once their runs end.
    const bySize = [...this.slots].filter((s) => !s.retiring).sort((a, b) => Number(a.ready) - Number(b.ready) || (a.ready ? a.runs.length - b.runs.length : b.born - a.born))
    let live = bySize.length
    for (let i = 0; live > this.size; live--, i++) this.retireSoon(bySize[i]!)
    // Grown again before a leaving worker ended its last runs (a limit dragged down and back up): it
    // stays, rather than a new one starting beside it.
    for (const s of this.slots) {
      if (live >= this.size) break
      if (!s.retiring) continue
      s.retiring = false
      live++
    }
    this.distributeSoon()
  }

  workers(): number {
    let n = 0
    for (const s of this.slots) if (!s.retiring) n++
    return n
  }

  workerStats(): WorkerStat[] {
    const now = performance.now()
    return [...this.slots].map((s) => ({
      label: s.worker.label,
      executor: this.kind,
      busyMs: Math.round(s.busy.total(now)),
      runs: s.busy.runs,
      utilization: Math.round(s.busy.utilization(now) * 1000) / 1000,
    }))
  }

  /** Start workers up to the pool size (and the spare) and wait until they can take runs. */
  async warm(): Promise<void> {
    while (!this.closed && this.workers() < this.size) this.spawn()
    if (!this.closed && this.traits.spare && !this.spare) this.spare = this.spawn(true)
    await Promise.all([...this.slots, ...(this.spare ? [this.spare] : [])].map((s) => s.started))
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.refillTimer) clearTimeout(this.refillTimer)
    if (this.growTimer) clearTimeout(this.growTimer)
    if (this.watchTimer) clearTimeout(this.watchTimer)
    const closed = (): TaskFailure => new TaskFailure('crashed', `the ${this.kind} pool was closed`)
    for (const run of this.backlog.splice(0)) this.settle(run, closed())
    const exits: Promise<void>[] = []
    for (const slot of [...this.slots, ...(this.spare ? [this.spare] : [])]) {
      for (const run of slot.runs) this.settle(run, closed())
      exits.push(slot.exited)
      this.drop(slot)
      slot.worker.kill()
    }
    await Promise.all(exits)
  }

  // ── placing runs ────────────────────────────────────────────────────────────────────────────

  private distributeSoon(): void {
    if (this.distributeQueued) return
    this.distributeQueued = true
    queueMicrotask(this.distributeQueuedRuns)
  }

  /** One function for every distributeSoon (called once per settled run): no closure made each time. */
  private readonly distributeQueuedRuns = (): void => {
    this.distributeQueued = false
    this.distribute()
  }

  /**
   * Sends backlog runs to the least loaded workers, one message per worker. A worker still
   * starting gets one run at once, before it says it is ready: it finds the run waiting as soon as
   * it has loaded (no round trip through this thread on its start). A second run waits for the
   * first worker ready rather than queue behind one still starting.
   */
  private distribute(): void {
    if (this.closed) return
    if (this.backlog.length === 0) {
      // Most calls (one per settled run): nothing to place, only maybe an idle worker to feed.
      if (this.claims) this.stealSoon()
      return
    }
    this.grow()
    const outgoing = new Map<Slot, RunMessage[]>()
    const { depth, aheadMs } = this.traits
    while (this.backlog.length > 0) {
      const expect = aheadMs === null ? 0 : this.expectMs(this.backlog[0]!)
      let best: Slot | null = null
      let starting: Slot | null = null
      for (const s of this.slots) {
        if (s.retiring || s.runs.length > depth) continue
        if (!s.ready) {
          if (s.runs.length === 0) starting ??= s
          continue
        }
        // Refilled once a quarter is left, not after every run: one message carries many runs
        // (a postMessage to a busy thread costs ~100 µs of this thread on a loaded machine).
        if (s.runs.length > this.refillAt && !outgoing.has(s)) continue
        if (aheadMs !== null && s.runs.length > 1 && s.expectMs + expect > aheadMs) continue
        if (!best || s.runs.length < best.runs.length) best = s
      }
      if (starting && (!best || best.runs.length > 0)) best = starting
      if (!best) break
      const run = this.backlog.shift()!
      run.expectMs = expect
      if (!this.assign(best, run, outgoing)) {
        this.backlog.unshift(run)
        break
      }
    }
    for (const [slot, runs] of outgoing) this.sendRuns(slot, runs)
    if (this.claims && this.backlog.length === 0) this.stealSoon()
  }

  private sendRuns(slot: Slot, runs: RunMessage[]): void {
    timed('engine: runs sent to workers', () => slot.worker.send({ type: 'run', runs: encodeRuns(runs) }))
    if (slot.ring) this.watch()
  }

  /** A run's share of `aheadMs`: its job's recent run time; a job not seen yet counts as all of it. */
  private expectMs(run: PoolRun): number {
    return this.jobMs.get(run.request.job) ?? this.traits.aheadMs ?? 0
  }

  private ranFor(run: PoolRun, ms: number): void {
    if (this.traits.aheadMs === null) return
    const was = this.jobMs.get(run.request.job)
    if (was === undefined && this.jobMs.size >= JOB_TIMES) this.jobMs.clear()
    this.jobMs.set(run.request.job, was === undefined ? ms : (was + ms) / 2)
  }

  private assign(slot: Slot, run: PoolRun, outgoing: Map<Slot, RunMessage[]>): boolean {
    const id = this.nextRunId
    this.nextRunId = id >= 0x7fffffff ? 1 : id + 1
    if (this.claims) {
      const cell = this.freeCells.pop()
      if (cell === undefined) return false
      Atomics.store(this.claims, cell, id)
      run.cell = cell
    }
    run.id = id
    run.slot = slot
    slot.runs.push(run)
    slot.expectMs += run.expectMs
    const msg: RunMessage = { id, cell: run.cell, request: run.request }
    const list = outgoing.get(slot)
    if (list) list.push(msg)
    else outgoing.set(slot, [msg])
    return true
  }

  /**
   * Pool size reached lazily, when runs come: the spare joins first, else new workers start, as
   * many at once as there are cores, the next ones as those become ready (or START_GAP_MS after
   * the last start at the latest). A start is mostly CPU (a child process takes ~100 ms of a
   * core): started all at once on fewer cores they share them and the first ready comes later
   * for all, while its run (and the one queued behind it) wait; in waves the first runs start sooner, and the later workers' runs, started a moment after, would
   * have waited for a core anyway. Shortly after a loss (a refill pending) only one per run that
   * finds no idle or starting worker: a worker starting uses a core for a while, which must not
   * land on a series of forced cancels.
   */
  private grow(): void {
    let needed = Infinity
    let starting = 0
    for (const s of this.slots) if (!s.retiring && !s.ready) starting++
    if (this.refillTimer) {
      let free = 0
      for (const s of this.slots) if (!s.retiring && s.runs.length === 0) free++
      needed = this.backlog.length - free
    }
    for (; needed > 0 && this.workers() < this.size; needed--) {
      if (this.spare) {
        this.promoteSpare()
        continue
      }
      const now = performance.now()
      const wait = this.lastSpawnAt + START_GAP_MS - now
      if (starting >= START_AT_ONCE && wait > 0) {
        this.growLater(wait)
        break
      }
      this.spawn()
      starting++
      this.lastSpawnAt = now
    }
  }

  /** Past START_GAP_MS the next worker starts even if none got ready (a machine so loaded that a start takes long). */
  private growLater(ms: number): void {
    if (this.growTimer) return
    this.growTimer = setTimeout(() => {
      this.growTimer = null
      this.distributeSoon()
    }, ms)
    this.growTimer.unref()
  }

  /**
   * An idle worker takes queued runs back from a busy one (after the scheduler has had its turn
   * to refill the backlog): a long job never holds short ones behind it while a worker is free.
   */
  private stealSoon(): void {
    if (this.stealQueued) return
    let idle = false
    for (const s of this.slots) if (s.ready && !s.retiring && s.runs.length === 0) idle = true
    if (!idle) return
    this.stealQueued = true
    setImmediate(() => {
      this.stealQueued = false
      this.steal()
    })
  }

  private steal(): void {
    if (this.closed || this.backlog.length > 0) return this.distribute()
    for (const thief of this.slots) {
      if (!thief.ready || thief.retiring || thief.runs.length > 0) continue
      let victim: Slot | null = null
      let most = 0
      for (const s of this.slots) {
        const waiting = s.runs.filter((r) => !r.started && !r.settled).length
        if (waiting > most) {
          victim = s
          most = waiting
        }
      }
      if (!victim) return
      // Half of what waits there, from the back: the front is what that worker starts next.
      const taken = this.takeBack(victim, Math.ceil(most / 2))
      if (taken.length === 0) continue
      this.backlog.push(...taken)
      const outgoing = new Map<Slot, RunMessage[]>()
      for (const run of this.backlog.splice(0)) this.assign(thief, run, outgoing)
      for (const [slot, runs] of outgoing) this.sendRuns(slot, runs)
    }
  }

  /** Withdraws up to `max` queued runs from the back of a worker's queue (shared claims only), oldest first. */
  private takeBack(slot: Slot, max: number): PoolRun[] {
    const taken: PoolRun[] = []
    for (let i = slot.runs.length - 1; i >= 0 && taken.length < max; i--) {
      const run = slot.runs[i]!
      if (run.started || run.settled) break
      if (!this.unclaim(run)) break // the worker has begun it, and so everything before it
      slot.runs.splice(i, 1)
      slot.expectMs -= run.expectMs
      taken.unshift(run)
    }
    return taken
  }

  /** True when the pool won the claim: the worker will never start this assignment. */
  private unclaim(run: PoolRun): boolean {
    if (!this.claims || run.cell < 0) return false
    if (Atomics.compareExchange(this.claims, run.cell, run.id, 0) !== run.id) return false
    this.freeCell(run)
    run.slot = null
    return true
  }

  private freeCell(run: PoolRun): void {
    if (run.cell < 0) return
    this.freeCells.push(run.cell)
    run.cell = -1
  }

  // ── cancel and kill ────────────────────────────────────────────────────────────────────────

  /** @internal PoolRun.cancel. */
  cancelRun(run: PoolRun): void {
    // What the worker holds first: the run may have ended, or started.
    if (run.slot) this.readHeld(run.slot)
    if (run.settled) return
    const slot = run.slot
    // Still in the backlog, or won back from its worker: it simply ends.
    if (!slot || (!run.started && this.unclaim(run))) return this.dropUnstarted(run, slot)
    if (slot.gone) return
    slot.worker.send({ type: 'cancel', id: run.id })
    // A process child drops a queued run on this message (or aborts it at once if it crossed its
    // start); the run ends now and stays on the slot's books until the child answers for it.
    if (!run.started && !this.claims) this.settle(run, new TaskFailure('error', CANCELLED_BEFORE_START))
  }

  /**
   * @internal PoolRun.withdraw: true when the run surely never starts (in the backlog, or its claim
   * won back from its worker), and it has ended; false when its thread has taken it, and it goes on
   * there. A process child is asked (there are no claims to race for): true once it drops the run
   * unstarted, false once the run starts or ends otherwise.
   */
  withdrawRun(run: PoolRun): boolean | Promise<boolean> {
    if (run.slot) this.readHeld(run.slot)
    if (run.started || run.settled) return false
    const slot = run.slot
    if (slot && !this.claims) {
      if (slot.gone) return false
      if (run.withdrawn) return false // asked already: that answer is the one
      slot.worker.send({ type: 'withdraw', id: run.id })
      return new Promise<boolean>((resolve) => (run.withdrawn = resolve))
    }
    if (slot && !this.unclaim(run)) return false
    this.dropUnstarted(run, slot)
    return true
  }

  /** Ends a run its worker will never start: out of the backlog, or off the worker it was sent to. */
  private dropUnstarted(run: PoolRun, slot: Slot | null): void {
    if (slot) {
      slot.runs.splice(slot.runs.indexOf(run), 1)
      slot.expectMs -= run.expectMs
      this.distributeSoon()
    } else this.backlog.splice(this.backlog.indexOf(run), 1)
    this.settle(run, new TaskFailure('error', CANCELLED_BEFORE_START))
  }

  /** @internal PoolRun.kill. */
  killRun(run: PoolRun): boolean {
    if (run.slot) this.readHeld(run.slot)
    if (run.settled) return true
    const slot = run.slot
    if (!run.started || !slot) {
      this.cancelRun(run)
      return true
    }
    this.settle(run, new TaskFailure('crashed', KILLED_MESSAGE))
    this.lose(slot, KILLED_MESSAGE)
    slot.worker.kill()
    return true
  }

  // ── workers ────────────────────────────────────────────────────────────────────────────────

  private spawn(asSpare = false): Slot {
    let onStarted!: () => void
    let onExit!: () => void
    const slot: Slot = {
      worker: null as unknown as PoolWorker,
      ready: false,
      runs: [],
      current: null,
      fatal: null,
      gone: false,
      retiring: false,
      started: new Promise<void>((res) => (onStarted = res)),
      exited: new Promise<void>((res) => (onExit = res)),
      busy: new BusyMeter(),
      expectMs: 0,
      ring: this.claims ? ReportRing.create() : null,
      clock: 0,
      born: performance.now(),
    }
    slot.worker = this.spawnWorker({
      message: (msgs) => this.onMessages(slot, msgs, onStarted),
      output: (line, stream) => slot.current?.hooks.log(line, stream),
      exit: (why) => {
        onStarted()
        onExit()
        this.onExit(slot, why)
      },
    })
    slot.worker.send({
      type: 'config',
      cwd: this.cwd,
      jobsDirs: this.jobsDirs,
      claims: this.claims && (this.claims.buffer as SharedArrayBuffer),
      ring: slot.ring && slot.ring.buffer,
      refillAt: this.refillAt,
    })
    if (!asSpare) this.slots.add(slot)
    return slot
  }

  private onMessages(slot: Slot, msgs: FromWorker[], onStarted: () => void): void {
    if (COSTS_ON) add('engine: messages from workers', 0)
    if (this.take(slot, msgs, onStarted)) this.freed(slot)
  }

  /** Reads what the worker holds in its ring (rung, a cancel, a kill, a loss, the read every WATCH_MS). */
  private readRing(slot: Slot, upTo?: number): boolean {
    const text = slot.ring?.read(upTo)
    if (!text) return false
    return timed('engine: reports read from rings', () => this.take(slot, JSON.parse(`[${text.slice(1)}]`) as FromWorker[], noop))
  }

  /** @internal PoolRun.heard; also before a cancel or a kill, and the read every WATCH_MS. */
  readHeld(slot: Slot): void {
    if (this.readRing(slot)) this.freed(slot)
  }

  /** Runs ended: the worker may leave (after a shrink), and there is room for more. */
  private freed(slot: Slot): void {
    if (slot.retiring && slot.runs.length === 0) this.retire(slot)
    this.distributeSoon()
  }

  /** Applies a worker's reports in order; true when a run ended. */
  private take(slot: Slot, msgs: FromWorker[], onStarted: () => void): boolean {
    let freed = false
    for (const msg of msgs) {
      if (msg.type === 'ring') {
        if (this.readRing(slot, msg.at)) freed = true
        continue
      }
      if (msg.type === 'ready') {
        slot.clock = msg.origin - performance.timeOrigin
        slot.ready = true
        onStarted()
        this.distributeSoon()
        continue
      }
      if (msg.type === 'fatal') {
        slot.fatal = msg.message
        continue
      }
      const run = find(slot.runs, msg.id)
      if (msg.type === 'call') {
        this.relay(slot, run, msg.call, msg.req)
        continue
      }
      if (!run) continue // late news from a run given up with its worker
      switch (msg.type) {
        case 'call-cancel':
          run.calls?.get(msg.call)?.abort()
          break
        case 'started':
          run.started = true
          this.answerWithdrawal(run, false)
          slot.current = run
          // Its time in the worker: the report may have waited in the ring.
          slot.busy.begin(Math.min(performance.now(), msg.at / 10 + slot.clock))
          if (!run.settled) run.hooks.worker(slot.worker.label)
          break
        case 'progress':
          if (!run.settled) run.hooks.progress(msg.fraction, msg.message)
          break
        case 'log':
          if (!run.settled) run.hooks.log(msg.line, msg.stream ?? 'log')
          break
        case 'result':
        case 'error':
          slot.runs.splice(slot.runs.indexOf(run), 1)
          // Recounted when empty: sums of fractions drift.
          slot.expectMs = slot.runs.length === 0 ? 0 : slot.expectMs - run.expectMs
          this.freeCell(run)
          if (run.started) {
            slot.busy.end(msg.ms)
            this.ranFor(run, msg.ms)
          }
          if (slot.current === run) slot.current = null
          // Dropped unstarted on its withdrawal: told first, so the scheduler takes the task back
          // before it hears the run end.
          if (msg.type === 'error' && !run.started && msg.message === CANCELLED_BEFORE_START) this.answerWithdrawal(run, true)
          if (msg.type === 'result') this.settle(run, null, msg.value)
          else this.settle(run, failureFrom(msg))
          freed = true
          break
      }
    }
    return freed
  }

  /**
   * While workers have runs out, their report rings are read every WATCH_MS, all in one wake-up of
   * this thread (see protocol.ts): a worker holds reports only before a job that was short there,
   * and one that runs long anyway must not hide its start (its timeout counts from it) or the end
   * before it; a worker far from running dry leaves its reports to this read rather than ring.
   */
  private watch(): void {
    if (this.watchTimer) return
    const timer = setTimeout(() => {
      let out = false
      for (const slot of this.slots) {
        if (!slot.ring || slot.runs.length === 0) continue
        this.readHeld(slot)
        if (slot.runs.length > 0 && !slot.gone) out = true
      }
      if (out && !this.closed) timer.refresh()
      else this.watchTimer = null
    }, WATCH_MS)
    timer.unref()
    this.watchTimer = timer
  }

  private onExit(slot: Slot, why: string): void {
    const wasReady = slot.ready
    slot.ready = false
    if (slot === this.spare) {
      this.spare = null
      if (wasReady) this.refillSoon()
      return
    }
    if (slot.gone) return // retired, killed or closed: already off the books
    // A worker that never got ready means the entry itself is broken: respawning would loop,
    // and runs waiting for a worker would wait forever.
    this.lose(slot, slot.fatal ? `${why}: ${slot.fatal}` : why, wasReady)
    if (!wasReady && ![...this.slots].some((s) => s.ready)) {
      for (const run of this.backlog.splice(0)) this.settle(run, new TaskFailure('crashed', why))
    }
  }

  /**
   * A worker is gone (killed, crashed): its started run fails with `why`, the runs it had not
   * started go back to the front of the backlog, and a replacement takes its place off the hot path.
   */
  private lose(slot: Slot, why: string, replace = true): void {
    if (slot.gone) return
    // What it finished and held is not lost with it.
    this.readRing(slot)
    this.drop(slot)
    slot.busy.end()
    const back: PoolRun[] = []
    // Processes: a child reports a start before calling the job, so an unreported run had not
    // begun, unless its report was still on the way: only the first such run, as a child starts
    // them in order. It alone counts a requeue; the runs behind it are sent again freely.
    let suspect = true
    for (const run of slot.runs) {
      if (run.settled) continue
      if (run.started) {
        this.settle(run, new TaskFailure('crashed', why))
        continue
      }
      // Threads: the claim says for sure whether it began.
      const unstarted = this.claims ? this.unclaim(run) : true
      if (!unstarted || (suspect && run.requeued >= MAX_REQUEUES)) {
        this.settle(run, new TaskFailure('crashed', why))
        continue
      }
      if (!this.claims && suspect) run.requeued++
      suspect = false
      run.slot = null
      this.freeCell(run)
      back.push(run)
    }
    slot.runs = []
    slot.expectMs = 0
    slot.current = null
    this.backlog.unshift(...back)
    if (replace) this.replenish()
    this.distributeSoon()
  }

  /** A job's call goes to the engine; the answer goes back to the worker that asked. */
  private relay(slot: Slot, run: PoolRun | undefined, call: number, req: JobCall): void {
    const reply = (msg: Extract<ToWorker, { type: 'reply' }>): void => {
      if (!slot.gone) slot.worker.send(msg)
    }
    if (!run || run.settled || !this.host) {
      const message = this.host ? 'the run has ended' : 'this executor has no engine to call'
      return reply({ type: 'reply', call, ok: false, error: { name: 'Error', message } })
    }
    const ac = new AbortController()
    ;(run.calls ??= new Map()).set(call, ac)
    this.host.call(run.request.taskId, req, ac.signal).then(
      (value) => reply({ type: 'reply', call, ok: true, value }),
      (e: unknown) => reply({ type: 'reply', call, ok: false, error: errorReply(e) }),
    ).finally(() => run.calls?.delete(call))
  }

  private answerWithdrawal(run: PoolRun, back: boolean): void {
    const answer = run.withdrawn
    if (!answer) return
    run.withdrawn = null
    answer(back)
  }

  private settle(run: PoolRun, failure: TaskFailure | null, value?: unknown): void {
    if (run.settled) return
    run.settled = true
    this.answerWithdrawal(run, false)
    // Before the scheduler hears: the next attempt or a waiter never meets this run's locks.
    if (run.calls) {
      for (const ac of run.calls.values()) ac.abort()
      run.calls = null
    }
    if (run.started) this.host?.runEnded(run.request.taskId)
    if (failure) run.reject(failure)
    else run.resolve(value)
  }

  /** Shrinking: queued runs go back (where they can) and the worker leaves once it has none. */
  private retireSoon(slot: Slot): void {
    slot.retiring = true
    if (this.claims) this.backlog.unshift(...this.takeBack(slot, Infinity))
    if (slot.runs.length === 0) this.retire(slot)
  }

  private retire(slot: Slot): void {
    this.drop(slot)
    slot.worker.retire()
  }

  /** Out of the pool's books at once; the process/thread may take a moment more to end. */
  private drop(slot: Slot): void {
    slot.gone = true
    this.slots.delete(slot)
    if (this.spare === slot) this.spare = null
  }

  private promoteSpare(): void {
    const spare = this.spare!
    this.spare = null
    this.slots.add(spare)
    this.refillSoon()
  }

  /**
   * After a loss: the spare takes the lost worker's place at once; runs waiting for a worker get
   * one as they come (grow); the rest of the pool and a new spare are built once losses stop.
   * A pool that loses workers keeps a spare from then on (warm() starts one up front).
   */
  private replenish(): void {
    if (this.closed) return
    if (this.spare && this.workers() < this.size) this.promoteSpare()
    this.refillSoon()
    this.distributeSoon()
  }

  /**
   * Builds what the pool lacks (workers up to its size, the spare) once no worker was lost for
   * REFILL_DELAY_MS: a worker starting takes a core for tens of ms, which must not land on a
   * cancel's path, nor again and again during a series of forced cancels.
   */
  private refillSoon(): void {
    if (this.closed) return
    if (this.refillTimer) clearTimeout(this.refillTimer)
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null
      if (this.closed) return
      while (this.workers() < this.size) this.spawn()
      if (this.traits.spare && !this.spare) this.spare = this.spawn(true)
      this.distributeSoon()
    }, REFILL_DELAY_MS)
    this.refillTimer.unref()
  }
}

function errorReply(e: unknown): { name: string; message: string; code?: string } {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) }
  const code = (e as { code?: unknown }).code
  return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) }
}

function noop(): void {}

function find(runs: PoolRun[], id: number): PoolRun | undefined {
  for (let i = 0; i < runs.length; i++) if (runs[i]!.id === id) return runs[i]
  return undefined
}
