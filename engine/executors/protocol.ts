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
import type { JobCall, JobExecutor } from '../../common/types'
import { StringDecoder } from 'node:string_decoder'
import { TaskFailure, type FailureKind } from './executor'
import { LineSplitter } from './lines'
import { RunAbort, runJob, type JobRequest, type JobSink } from './run-job'

/** A run as the worker gets it; cwd and jobsDirs come once, with the config. */
export interface RunMessage {
  id: number
  /** Index of the run's claim cell; -1 without shared memory. */
  cell: number
  request: Omit<JobRequest, 'cwd' | 'jobsDirs'>
}

export type ToWorker =
  | { type: 'config'; cwd: string; jobsDirs: string[]; claims: SharedArrayBuffer | null }
  /** RunMessage[] as text (encodeRuns; params and inputs are JSON): far cheaper to copy than a cloned object graph. */
  | { type: 'run'; runs: string }
  | { type: 'cancel'; id: number }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: { name: string; message: string; code?: string } }

export type FromWorker =
  | { type: 'ready' }
  /** The worker claimed the run and is about to call the job. */
  | { type: 'started'; id: number }
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

export interface WorkerChannel {
  /** Reports go out in arrays: a finished run's result and the next run's start share one message. */
  send(msgs: FromWorker[]): void
  onMessage(listener: (msg: ToWorker) => void): void
}

export const CANCELLED_BEFORE_START = 'cancelled before it started'

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

/** The worker side: one job at a time, in the order queued, each with its own AbortSignal. */
export function serveJobs(channel: WorkerChannel, executor: Exclude<JobExecutor, 'loop'>): void {
  let cwd = process.cwd()
  let jobsDirs: string[] = []
  let claims: Int32Array | null = null
  const queue: RunMessage[] = []
  let current: { id: number; abort: RunAbort } | null = null
  let outbox: FromWorker[] = []
  let pumpQueued = false
  /** Console lines wait in the outbox until the end of the job's microtasks (or OUTPUT_BATCH of them). */
  let outputQueued = false
  let nextCall = 0
  const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()

  const flush = (): void => {
    if (outbox.length === 0) return
    const out = outbox
    outbox = []
    channel.send(out)
  }
  const report = (msg: FromWorker): void => {
    outbox.push(msg)
    flush()
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
        const onAbort = (): void => report({ type: 'call-cancel', id, call })
        calls.set(call, {
          resolve: (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
          reject: (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
        })
        try {
          report({ type: 'call', id, call, req })
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
    const abort = new RunAbort()
    const t0 = performance.now()
    current = { id, abort }
    // Out before the job: a long synchronous job must not hide that it started.
    report({ type: 'started', id })
    runJob({ ...run.request, cwd, jobsDirs }, executor, abort, new Sink(id)).then(
      (value) => end({ type: 'result', id, value, ms: performance.now() - t0 }),
      (e: TaskFailure) =>
        end({
          type: 'error',
          id,
          kind: e.kind,
          message: e.message,
          stack: e.stack,
          ...(e.errorName !== undefined ? { name: e.errorName } : {}),
          ...(e.code !== undefined ? { code: e.code } : {}),
          ms: performance.now() - t0,
        }),
    )
  }

  const output = captureOutput(() => current?.id ?? null, (msg) => {
    outbox.push(msg)
    if (outbox.length >= OUTPUT_BATCH) flush()
    else if (!outputQueued) {
      outputQueued = true
      queueMicrotask(() => {
        outputQueued = false
        flush()
      })
    }
  })

  const end = (msg: FromWorker): void => {
    output.endRun()
    current = null
    outbox.push(msg) // goes out with the next run's start, or alone
    next()
  }

  const next = (): void => {
    while (current === null && queue.length > 0) {
      const run = queue.shift()!
      // Lost the race: the pool took this run back and has settled it.
      if (claims && run.cell >= 0 && Atomics.compareExchange(claims, run.cell, run.id, 0) !== run.id) continue
      begin(run)
    }
    flush()
  }

  channel.onMessage((msg) => {
    switch (msg.type) {
      case 'config':
        cwd = msg.cwd
        jobsDirs = msg.jobsDirs
        claims = msg.claims && new Int32Array(msg.claims)
        return
      case 'run':
        for (const r of decodeRuns(msg.runs)) queue.push(r)
        if (current !== null) return
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
      case 'cancel': {
        if (current?.id === msg.id) return current.abort.abort()
        const i = queue.findIndex((r) => r.id === msg.id)
        if (i < 0) return // finished already
        queue.splice(i, 1)
        report({ type: 'error', id: msg.id, kind: 'error', message: CANCELLED_BEFORE_START, ms: 0 })
      }
    }
  })
  channel.send([{ type: 'ready' }])
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
