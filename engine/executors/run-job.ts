// The one place a job function is run, whatever the executor: resolve the job, build its
// context, pass params, cap its log lines and clamp its progress, turn a throw into a TaskFailure
// and the result into small plain JSON (result.ts).
// Loop calls it directly; thread workers and pool children call it through protocol.ts.
import { clampProgress } from '../../common/progress'
import type { JobCall, JobExecutor } from '../../common/types'
import type { JobContext, JobFn } from '../jobs/job'
import { primitives } from '../jobs/primitives'
import { loadJob } from '../jobs/resolve'
import { TaskFailure } from './executor'
import { capLine } from './lines'
import { toResult } from './result'

export interface JobRequest {
  job: string
  params: Record<string, unknown>
  inputs: unknown[]
  taskId: string
  attempt: number
  cwd: string
  jobsDirs: string[]
}

export interface JobSink {
  progress(fraction: number | null, message?: string): void
  log(line: string): void
  /** A call to the engine (engine/job-calls.ts); the sink aborts it there when `signal` aborts. */
  call(call: JobCall, signal: AbortSignal): Promise<unknown>
}

/** A job may report progress in a tight loop; at most one report per interval crosses over, and always the last. */
export const PROGRESS_INTERVAL_MS = 16

function throttle(sink: JobSink): { progress: JobSink['progress']; flush(): void } {
  let last = 0
  let pending: [number | null, string | undefined] | null = null
  let timer: NodeJS.Timeout | null = null
  const flush = (): void => {
    if (timer) clearTimeout(timer)
    timer = null
    if (!pending) return
    const [f, m] = pending
    pending = null
    last = performance.now()
    sink.progress(f, m)
  }
  return {
    flush,
    progress(fraction, message) {
      pending = [clampProgress(fraction), message === undefined ? undefined : String(message)]
      const wait = last + PROGRESS_INTERVAL_MS - performance.now()
      // Sends synchronously when due, so a busy loop that never yields still reports.
      if (wait <= 0) flush()
      else timer ??= setTimeout(flush, wait)
    },
  }
}

/**
 * A job function stays resolved this long before its module is checked for changes again: a
 * stream of runs skips the stat and the await, and an edited module is still picked up.
 */
const RECHECK_MS = 1000
const resolved = new Map<string, { fn: JobFn; cwd: string; jobsDirs: string[]; at: number }>()

function recentJob(req: JobRequest): JobFn | null {
  const hit = resolved.get(req.job)
  if (!hit || hit.cwd !== req.cwd || hit.jobsDirs !== req.jobsDirs || performance.now() - hit.at > RECHECK_MS) return null
  return hit.fn
}

async function resolveJob(req: JobRequest): Promise<JobFn> {
  const fn = await loadJob(req.job, { cwd: req.cwd, jobsDirs: req.jobsDirs })
  resolved.set(req.job, { fn, cwd: req.cwd, jobsDirs: req.jobsDirs, at: performance.now() })
  return fn
}

/**
 * A run's abort, made into an AbortController only when something reads its signal (the job, or
 * a call it makes): building one costs microseconds, more than a tiny job, and most never look.
 * An abort before that leaves the signal aborted from its making.
 */
export class RunAbort {
  private controller: AbortController | null = null
  private abortedEarly = false

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController()
      if (this.abortedEarly) this.controller.abort()
    }
    return this.controller.signal
  }

  get aborted(): boolean {
    return this.controller === null ? this.abortedEarly : this.controller.signal.aborted
  }

  abort(): void {
    if (this.controller === null) this.abortedEarly = true
    else this.controller.abort()
  }
}

type EngineCalls = ReturnType<typeof primitives>

/**
 * A job's ctx. Its functions are made on first use, each once per run, so a job may still take
 * them apart (`const { progress, queue } = ctx`): a tiny job uses none of them, and making them
 * all for every run cost more than such a job itself.
 */
class RunContext implements JobContext {
  readonly inputs: unknown[]
  readonly taskId: string
  readonly attempt: number
  readonly executor: JobExecutor
  readonly cwd: string
  readonly #abort: RunAbort
  readonly #sink: JobSink
  #throttle: ReturnType<typeof throttle> | null = null
  #log: ((line: string) => void) | null = null
  #calls: EngineCalls | null = null

  constructor(req: JobRequest, executor: JobExecutor, abort: RunAbort, sink: JobSink) {
    this.inputs = req.inputs
    this.taskId = req.taskId
    this.attempt = req.attempt
    this.executor = executor
    this.cwd = req.cwd
    this.#abort = abort
    this.#sink = sink
  }

  get signal(): AbortSignal {
    return this.#abort.signal
  }

  get progress(): JobContext['progress'] {
    return (this.#throttle ??= throttle(this.#sink)).progress
  }

  get log(): JobContext['log'] {
    return (this.#log ??= (line) => this.#sink.log(capLine(String(line))))
  }

  get queue(): JobContext['queue'] {
    return this.#engine().queue
  }

  get lock(): JobContext['lock'] {
    return this.#engine().lock
  }

  get submit(): JobContext['submit'] {
    return this.#engine().submit
  }

  get wait(): JobContext['wait'] {
    return this.#engine().wait
  }

  #engine(): EngineCalls {
    return (this.#calls ??= primitives((call) => this.#sink.call(call, this.#abort.signal)))
  }

  /** The run ended: the last progress report held back by the throttle goes out. */
  static end(ctx: RunContext): void {
    ctx.#throttle?.flush()
  }
}

/** Resolves with the JSON result; rejects with a TaskFailure. */
export async function runJob(req: JobRequest, executor: JobExecutor, abort: RunAbort, sink: JobSink): Promise<unknown> {
  let ctx: RunContext | null = null
  try {
    // Awaited even when known: a cancel right behind the start still ends the run before the job.
    const fn = await (recentJob(req) ?? resolveJob(req))
    // A cancel that arrived while the module loaded: the job would never see the abort event.
    if (abort.aborted) throw new TaskFailure('error', 'cancelled before the job started')
    ctx = new RunContext(req, executor, abort, sink)
    const value = await fn(req.params, ctx)
    return toResult(value)
  } catch (e) {
    throw TaskFailure.from(e)
  } finally {
    if (ctx) RunContext.end(ctx)
  }
}
