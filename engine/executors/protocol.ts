// The messages between a pool (thread or process) and its worker, and the worker side's loop.
// In: config (once), run (a batch of runs to queue), cancel. Out: arrays of reports.
//
// The pool sends a worker a few runs ahead, so it starts the next job without a round trip.
// A run is only "started" once the worker claims it, and says so before calling the job.
// With shared memory (threads) each queued run has a claim cell holding its id: the worker
// and the pool race to swap it to 0 with Atomics, and whoever wins decides, so the pool can
// take a queued run back (cancel, steal for an idle worker, a dying worker) without asking a
// busy worker. Without it (processes) a cancel message drops a queued run in the child.
import type { JobExecutor } from '../../common/types'
import { TaskFailure, type FailureKind } from './executor'
import { runJob, type JobRequest } from './run-job'

/** A run as the worker gets it; cwd and jobsDirs come once, with the config. */
export interface RunMessage {
  id: number
  /** Index of the run's claim cell; -1 without shared memory. */
  cell: number
  request: Omit<JobRequest, 'cwd' | 'jobsDirs'>
}

export type ToWorker =
  | { type: 'config'; cwd: string; jobsDirs: string[]; claims: SharedArrayBuffer | null }
  /** RunMessage[] as JSON text (params and inputs are JSON): far cheaper to copy than a cloned object graph. */
  | { type: 'run'; runs: string }
  | { type: 'cancel'; id: number }

export type FromWorker =
  | { type: 'ready' }
  /** The worker claimed the run and is about to call the job. */
  | { type: 'started'; id: number }
  | { type: 'progress'; id: number; fraction: number | null; message?: string }
  | { type: 'log'; id: number; line: string }
  /** `ms`: how long the job ran, timed in the worker (busy time without the message delays). */
  | { type: 'result'; id: number; value: unknown; ms: number }
  /** `name`, `code`: the thrown error's, kept across the boundary. */
  | { type: 'error'; id: number; kind: FailureKind; message: string; stack?: string; name?: string; code?: string | number; ms: number }
  /** The worker is about to die of an uncaught error: the reason for the run it takes down. */
  | { type: 'fatal'; message: string; stack?: string }

export interface WorkerChannel {
  /** Reports go out in arrays: a finished run's result and the next run's start share one message. */
  send(msgs: FromWorker[]): void
  onMessage(listener: (msg: ToWorker) => void): void
}

export const CANCELLED_BEFORE_START = 'cancelled before it started'

/** The worker side: one job at a time, in the order queued, each with its own AbortSignal. */
export function serveJobs(channel: WorkerChannel, executor: Exclude<JobExecutor, 'loop'>): void {
  let cwd = process.cwd()
  let jobsDirs: string[] = []
  let claims: Int32Array | null = null
  const queue: RunMessage[] = []
  let current: { id: number; ac: AbortController } | null = null
  let outbox: FromWorker[] = []
  let pumpQueued = false

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

  const begin = (run: RunMessage): void => {
    const { id } = run
    const ac = new AbortController()
    const t0 = performance.now()
    current = { id, ac }
    // Out before the job: a long synchronous job must not hide that it started.
    report({ type: 'started', id })
    const sink = {
      progress: (fraction: number | null, message?: string) => report({ type: 'progress', id, fraction, message }),
      log: (line: string) => report({ type: 'log', id, line }),
    }
    runJob({ ...run.request, cwd, jobsDirs }, executor, ac.signal, sink).then(
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

  const end = (msg: FromWorker): void => {
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
        for (const r of JSON.parse(msg.runs) as RunMessage[]) queue.push(r)
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
      case 'cancel': {
        if (current?.id === msg.id) return current.ac.abort()
        const i = queue.findIndex((r) => r.id === msg.id)
        if (i < 0) return // finished already
        queue.splice(i, 1)
        report({ type: 'error', id: msg.id, kind: 'error', message: CANCELLED_BEFORE_START, ms: 0 })
      }
    }
  })
  channel.send([{ type: 'ready' }])
}

export function failureFrom(msg: Extract<FromWorker, { type: 'error' }>): TaskFailure {
  return new TaskFailure(msg.kind, msg.message, msg.stack, {
    ...(msg.name !== undefined ? { errorName: msg.name } : {}),
    ...(msg.code !== undefined ? { code: msg.code } : {}),
  })
}
