// The messages between a pool (thread or process) and its worker, and the worker side's loop.
// In: config (once), run (a batch of runs to queue), cancel, reply. Out: arrays of reports.
// A job's calls to the engine (ctx.queue, ctx.lock, ctx.submit, ctx.wait) go out as `call` and
// come back as `reply`; the task's cancel sends `call-cancel`, and the engine answers the call
// with an AbortError (or its result, if it was served first).
//
// The pool sends a worker a few runs ahead, so it starts the next job without a round trip.
// A run is only "started" once the worker claims it, and says so before calling the job.
// With shared memory (threads) each queued run has a claim cell holding its id: the worker
// and the pool race to swap it to 0 with Atomics, and whoever wins decides, so the pool can
// take a queued run back (cancel, steal for an idle worker, a dying worker) without asking a
// busy worker. Without it (processes) a cancel message drops a queued run in the child.
//
// A thread also gets a report ring (report-ring.ts): while it runs jobs known to be short, one
// after another, it writes its reports there. While it holds more runs than its pool's refill
// point it does not ring at all but leaves them to the pool's read every WATCH_MS (LONG_HOLD_MS);
// it rings (posts `ring`) once as it comes down to the refill point, so the pool refills it at
// once, and below that at most every HOLD_MS: the engine thread wakes once per many runs, not once
// per run. It rings at once when it has nothing left to run, on a failure, before a job not known
// to be short, and when a job calls the engine; the pool reads the ring itself before a cancel or
// a kill, when the worker is lost, and every WATCH_MS while runs are out. Reports keep their order:
// a posted message's `ring` comes first in it and names the ring's records written before it.
import type { JobCall, JobExecutor } from '../../common/types'
import { StringDecoder } from 'node:string_decoder'
import { TaskFailure, type FailureKind } from './executor'
import { LineSplitter } from './lines'
import { ReportRing } from './report-ring'
import { RunAbort, runJob, type JobRequest, type JobSink } from './run-job'

/** A run as the worker gets it; cwd and jobsDirs come once, with the config. */
export interface RunMessage {
  id: number
  /** Index of the run's claim cell; -1 without shared memory. */
  cell: number
  request: Omit<JobRequest, 'cwd' | 'jobsDirs'>
}

export type ToWorker =
  /** `refillAt`: the pool refills the worker once it has this many runs or fewer (the one it runs included). */
  | { type: 'config'; cwd: string; jobsDirs: string[]; claims: SharedArrayBuffer | null; ring: SharedArrayBuffer | null; refillAt: number }
  /** RunMessage[] as text (encodeRuns; params and inputs are JSON): far cheaper to copy than a cloned object graph. */
  | { type: 'run'; runs: string }
  | { type: 'cancel'; id: number }
  /** Drop this run if it has not started (answered as cancelled before it started); else nothing. */
  | { type: 'withdraw'; id: number }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: { name: string; message: string; code?: string } }

export type FromWorker =
  /** `origin`: the worker's performance.timeOrigin, to read its `at` times. */
  | { type: 'ready'; origin: number }
  /** The worker claimed the run and is about to call the job; `at`: when, its performance.now() in tenths of ms (an integer: cheap to read back). */
  | { type: 'started'; id: number; at: number }
  | { type: 'progress'; id: number; fraction: number | null; message?: string }
  /** A ctx.log line (no stream), or a line the job wrote to process.stdout or stderr (console.log). */
  | { type: 'log'; id: number; line: string; stream?: 'stdout' | 'stderr' }
  /** `ms`: how long the job ran, timed in the worker (busy time without the message delays). */
  | { type: 'result'; id: number; value: unknown; ms: number }
  /** `name`, `code`: the thrown error's, kept across the boundary. */
  | { type: 'error'; id: number; kind: FailureKind; message: string; stack?: string; name?: string; code?: string | number; ms: number }
  /** The job of run `id` calls the engine; `call` numbers it in this worker. */
  | { type: 'call'; id: number; call: number; req: JobCall }
  | { type: 'call-cancel'; id: number; call: number }
  /** The worker is about to die of an uncaught error: the reason for the run it takes down. */
  | { type: 'fatal'; message: string; stack?: string }
  /** Read the report ring up to its write counter `at` first: those reports came before the rest of this message. */
  | { type: 'ring'; at: number }

export interface WorkerChannel {
  /** Reports go out in arrays: a finished run's result and the next run's start share one message. */
  send(msgs: FromWorker[]): void
  onMessage(listener: (msg: ToWorker) => void): void
  /**
   * The next message that has arrived, taken now, else undefined (threads: receiveMessageOnPort).
   * Jobs that never yield run one after another in microtasks: the event loop, and with it the
   * listener, turns only once the queue is empty. Taken between runs, a refill asked at the refill
   * point joins the queue before it runs dry.
   */
  poll?(): ToWorker | undefined
}

export const CANCELLED_BEFORE_START = 'cancelled before it started'

/**
 * A thread down to its refill point rings at most this long (ms) after a report it holds, when it
 * is between runs or a job reports: the pool hears its queue run down (and its runs end, which
 * lets the scheduler top the pool up) a few runs at a time.
 */
export const HOLD_MS = 2
/**
 * While a thread has runs out, its pool reads its report ring this often (ms; all its threads'
 * rings in one wake-up of the engine thread): a job that runs long after short ones is heard
 * started within that, and a thread far from running dry need not ring at all.
 */
export const WATCH_MS = 10
/**
 * A thread holding more runs than its refill point holds its reports up to this long: longer than
 * the pool's regular read, so that read hears them (a cancel, a pause or a kill reads the ring
 * too). Nothing it holds is needed sooner (it rings as it comes down to the refill point), and
 * each wake-up of the engine thread then covers ~WATCH_MS of runs of every thread, not a few runs
 * of one.
 */
export const LONG_HOLD_MS = 2 * WATCH_MS
/**
 * A job is short, its reports held, when its recent run time (each run moves it halfway) is under
 * the pool's regular read: its start is heard with its end, or by that read, as soon as it would
 * be had it run long. Wall time: a job of 1 ms of CPU takes several on a loaded machine.
 */
const SHORT_MS = WATCH_MS
/** Jobs whose recent run time a worker remembers (which ones are short); past it, it starts over. */
const JOB_TIMES = 1000

/** One run on the wire: [id, cell, index of its job in the message's job list, params, inputs, taskId, attempt]. */
type RunRow = [number, number, number, Record<string, unknown>, unknown[], string, number]

/**
 * Runs as one JSON text: `[jobs, rows]`, each job named once per message and each run a row
 * without key names. A stream of tiny runs of one job is ~3x fewer bytes than the objects as
 * JSON: cheaper to write, to copy to the worker and to read there.
 */
export function encodeRuns(runs: readonly RunMessage[]): string {
  const jobs: string[] = []
  const rows: RunRow[] = []
  for (const { id, cell, request: r } of runs) {
    let j = jobs.indexOf(r.job)
    if (j < 0) j = jobs.push(r.job) - 1
    rows.push([id, cell, j, r.params, r.inputs, r.taskId, r.attempt])
  }
  return JSON.stringify([jobs, rows])
}

export function decodeRuns(text: string): RunMessage[] {
  const [jobs, rows] = JSON.parse(text) as [string[], RunRow[]]
  const runs: RunMessage[] = []
  for (const [id, cell, j, params, inputs, taskId, attempt] of rows) runs.push({ id, cell, request: { job: jobs[j]!, params, inputs, taskId, attempt } })
  return runs
}

/**
 * What a worker hands runJob for a run: the run's request and where its jobs are. A literal of the
 * fields, not `{ ...request, cwd, jobsDirs }`: V8 gives a spread followed by more properties a new
 * hidden class nearly every time, so each run took the slow path to add the two and runJob's
 * property reads went megamorphic (about half of a worker's CPU on a stream of tiny jobs).
 */
export function jobRequest(r: RunMessage['request'], cwd: string, jobsDirs: string[]): JobRequest {
  return { job: r.job, params: r.params, inputs: r.inputs, taskId: r.taskId, attempt: r.attempt, cwd, jobsDirs }
}

/** The worker side: one job at a time, in the order queued, each with its own AbortSignal. */
export function serveJobs(channel: WorkerChannel, executor: Exclude<JobExecutor, 'loop'>): void {
  let cwd = process.cwd()
  let jobsDirs: string[] = []
  let claims: Int32Array | null = null
  const queue: RunMessage[] = []
  let current: { id: number; abort: RunAbort } | null = null
  let outbox: FromWorker[] = []
  let ring: ReportRing | null = null
  /** performance.now() of the oldest report in the ring not rung for; -1: none. */
  let heldSince = -1
  /** The ring's write counter before that report: the pool read past it when its read counter is past it. */
  let heldFrom = 0
  /** The current run's job is known to be short: its reports may wait in the ring. */
  let holding = false
  /** How long they may wait: LONG_HOLD_MS above the refill point, HOLD_MS at or below it. */
  let holdMs = HOLD_MS
  /** The pool refills this worker once it holds this many runs or fewer (config). */
  let refillAt = 1
  /**
   * It held more than refillAt since it last rang for a refill: it rings as it comes down to it.
   * A few runs at a time never get there, and ring as before (their end is heard when the queue is
   * empty, or after HOLD_MS): one message for a lone run's start and end, not two.
   */
  let aboveRefill = false
  let ringQueued = false
  /** Recent run time (ms) per job in this worker: a job is short under SHORT_MS. */
  const jobMs = new Map<string, number>()
  let pumpQueued = false
  /** Console lines wait in the outbox until the end of the job's microtasks (or OUTPUT_BATCH of them). */
  let outputQueued = false
  let nextCall = 0
  const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()

  /** Posts `msgs`, behind a `ring` for what the ring holds (order kept). */
  const post = (msgs: FromWorker[]): void => {
    if (heldSince >= 0) {
      msgs.unshift({ type: 'ring', at: ring!.written })
      heldSince = -1
    }
    channel.send(msgs)
  }
  /**
   * The outbox goes on: into the ring (threads), rung for when `urgent` or when what the ring
   * holds has waited HOLD_MS; posted as it is without a ring, or when it does not fit there.
   */
  const flush = (urgent = true): void => {
    if (outbox.length > 0) {
      const out = outbox
      outbox = []
      const before = ring === null ? 0 : ring.written
      if (ring === null || !ring.write(`,${JSON.stringify(out).slice(1, -1)}`)) return post(out)
      if (heldSince < 0) {
        heldSince = performance.now()
        heldFrom = before
        ringSoon()
      }
    }
    if (heldSince < 0) return
    const read = ring!.readCount
    if (((read - heldFrom) | 0) > 0) {
      // The pool read the ring meanwhile (its regular read, a cancel): what it read needs no ring.
      if (read === ring!.written) return void (heldSince = -1)
      heldSince = performance.now()
      heldFrom = read
    }
    if (urgent || performance.now() - heldSince >= holdMs) post([])
  }
  /** Rings once the worker's event loop turns: a job that waits (I/O, a timer) holds nothing meanwhile. */
  const ringSoon = (): void => {
    if (ringQueued) return
    ringQueued = true
    setImmediate(() => {
      ringQueued = false
      flush()
    })
  }
  const report = (msg: FromWorker): void => {
    outbox.push(msg)
    flush(!holding)
  }
  /**
   * Out now, posted behind everything before it: the job waits for an answer, or the pool must
   * know. Never through the ring: a call's items keep their structured-clone meaning.
   */
  const urgent = (msg: FromWorker): void => {
    flush(false)
    post([msg])
  }

  /** What run `id` reports and asks, over the channel; one object per run, no closures. */
  class Sink implements JobSink {
    constructor(private readonly id: number) {}

    progress(fraction: number | null, message?: string): void {
      report({ type: 'progress', id: this.id, fraction, message })
    }

    log(line: string): void {
      report({ type: 'log', id: this.id, line })
    }

    call(req: JobCall, signal: AbortSignal): Promise<unknown> {
      const id = this.id
      return new Promise<unknown>((resolve, reject) => {
        const call = ++nextCall
        const onAbort = (): void => urgent({ type: 'call-cancel', id, call })
        calls.set(call, {
          resolve: (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
          reject: (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
        })
        try {
          urgent({ type: 'call', id, call, req })
        } catch (e) {
          // An item that cannot be cloned (a function, a socket): the job's own error.
          calls.delete(call)
          return reject(e)
        }
        if (signal.aborted) onAbort()
        else signal.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  const begin = (run: RunMessage): void => {
    const { id } = run
    const job = run.request.job
    const abort = new RunAbort()
    const t0 = performance.now()
    current = { id, abort }
    // Out (or in the ring) before the job: a long synchronous job must not hide that it started.
    // Held only before a job that was short here lately; a job that runs long anyway is read
    // from the ring by the pool (its read every WATCH_MS) while it runs.
    holding = ring !== null && (jobMs.get(job) ?? SHORT_MS) < SHORT_MS
    // This run and the queue behind it: what the pool counts until it hears this run end.
    const low = queue.length + 1 <= refillAt
    holdMs = low ? HOLD_MS : LONG_HOLD_MS
    // Come down to the refill point: rung at once, so the pool sends more while this one runs.
    const refill = low && aboveRefill
    if (refill) aboveRefill = false
    outbox.push({ type: 'started', id, at: Math.round(t0 * 10) })
    flush(!holding || refill)
    const ran = (): number => {
      const ms = performance.now() - t0
      const was = jobMs.get(job)
      if (was === undefined && jobMs.size >= JOB_TIMES) jobMs.clear()
      jobMs.set(job, was === undefined ? ms : (was + ms) / 2)
      return ms
    }
    runJob(jobRequest(run.request, cwd, jobsDirs), executor, abort, new Sink(id)).then(
      (value) => end({ type: 'result', id, value, ms: ran() }),
      (e: TaskFailure) =>
        end({
          type: 'error',
          id,
          kind: e.kind,
          message: e.message,
          stack: e.stack,
          ...(e.errorName !== undefined ? { name: e.errorName } : {}),
          ...(e.code !== undefined ? { code: e.code } : {}),
          ms: ran(),
        }),
    )
  }

  const output = captureOutput(() => current?.id ?? null, (msg) => {
    outbox.push(msg)
    if (outbox.length >= OUTPUT_BATCH) flush(!holding)
    else if (!outputQueued) {
      outputQueued = true
      queueMicrotask(() => {
        outputQueued = false
        flush(!holding)
      })
    }
  })

  const end = (msg: FromWorker): void => {
    output.endRun()
    current = null
    holding = false
    outbox.push(msg) // goes out with the next run's start, or alone
    // A failure is told at once (a retry, a fail-fast batch): only successes wait in the ring.
    if (msg.type === 'error') flush()
    next()
  }

  const next = (): void => {
    if (channel.poll) for (let msg = channel.poll(); msg !== undefined; msg = channel.poll()) take(msg, true)
    while (current === null && queue.length > 0) {
      const run = queue.shift()!
      // Lost the race: the pool took this run back and has settled it.
      if (claims && run.cell >= 0 && Atomics.compareExchange(claims, run.cell, run.id, 0) !== run.id) continue
      begin(run)
    }
    // Nothing left to run: everything out now (a lone task's end is heard at once).
    if (current === null) flush()
  }

  /** One message from the pool; `between`: taken by next() between two runs, which starts the next run itself. */
  const take = (msg: ToWorker, between = false): void => {
    switch (msg.type) {
      case 'config':
        cwd = msg.cwd
        jobsDirs = msg.jobsDirs
        claims = msg.claims && new Int32Array(msg.claims)
        ring = msg.ring && new ReportRing(msg.ring)
        refillAt = msg.refillAt
        return
      case 'run':
        for (const r of decodeRuns(msg.runs)) queue.push(r)
        if (queue.length + (current === null ? 0 : 1) > refillAt) aboveRefill = true
        if (current !== null || between) return
        // Threads start at once (the pool takes runs back through their claims). A child waits for
        // the messages that arrived together (IPC emits each on process.nextTick, and microtasks run
        // after those): a cancel right behind a run drops it unstarted.
        if (claims) return next()
        if (!pumpQueued) {
          pumpQueued = true
          queueMicrotask(() => {
            pumpQueued = false
            next()
          })
        }
        return
      case 'reply': {
        const pending = calls.get(msg.call)
        if (!pending) return
        calls.delete(msg.call)
        if (msg.ok) return pending.resolve(msg.value)
        return pending.reject(Object.assign(new Error(msg.error.message), { name: msg.error.name, ...(msg.error.code ? { code: msg.error.code } : {}) }))
      }
      case 'cancel':
      case 'withdraw': {
        if (current?.id === msg.id) {
          if (msg.type === 'cancel') current.abort.abort()
          return
        }
        const i = queue.findIndex((r) => r.id === msg.id)
        if (i < 0) return // finished already
        queue.splice(i, 1)
        urgent({ type: 'error', id: msg.id, kind: 'error', message: CANCELLED_BEFORE_START, ms: 0 })
      }
    }
  }
  channel.onMessage((msg) => take(msg))
  channel.send([{ type: 'ready', origin: performance.timeOrigin }])
}

/** Console lines waiting in the outbox before it is sent while a job writes without yielding. */
const OUTPUT_BATCH = 256

/**
 * A job's writes to process.stdout and process.stderr (console.log among them) become log
 * reports of the run that made them, on the channel its end goes out on: no line is heard after
 * its task ended, or given to the next task on the worker, as lines on a separate stdio pipe can be.
 * A run's unfinished last line is sent when it ends. Writes between runs go where they went.
 */
function captureOutput(currentId: () => number | null, out: (msg: FromWorker) => void): { endRun(): void } {
  const streams = (['stdout', 'stderr'] as const).map((name) => {
    const stream = process[name]
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean
    const decoder = new StringDecoder('utf8')
    let id: number | null = null
    const lines = new LineSplitter((line) => {
      if (id !== null) out({ type: 'log', id, line, stream: name })
    })
    stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
      const run = currentId()
      if (run === null) return original(chunk, encoding, cb)
      id = run
      const text = typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk as Uint8Array))
      lines.push(text)
      const done = typeof encoding === 'function' ? encoding : cb
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)())
      return true
    }) as typeof stream.write
    return {
      endRun(): void {
        lines.push(decoder.end())
        lines.end()
        id = null
      },
    }
  })
  return {
    endRun(): void {
      for (const s of streams) s.endRun()
    },
  }
}

export function failureFrom(msg: Extract<FromWorker, { type: 'error' }>): TaskFailure {
  return new TaskFailure(msg.kind, msg.message, msg.stack, {
    ...(msg.name !== undefined ? { errorName: msg.name } : {}),
    ...(msg.code !== undefined ? { code: msg.code } : {}),
  })
}
