// Loop executor: runs the job on the engine's own event loop (asyncio's create_task).
// It cannot force a stop: a job that ignores its signal is the scheduler's to mark and flag.
// A job that blocks or ends this thread takes the engine with it: the runs in progress are told
// (watchLoopRuns) and the running task is the async context (loopTask), so the supervisor can
// blame the right task (see engine/thread/client.ts).
import { AsyncLocalStorage } from 'node:async_hooks'
import path from 'node:path'
import type { JobCall } from '../../common/types'
import { failedRun, type Executor, type Run, type RunHooks, type RunRequest } from './executor'
import type { JobHost } from '../job-calls'
import { RunAbort, runJob, type JobSink } from './run-job'

export interface LoopRunInfo {
  taskId: string
  name: string
  killGraceMs: number | undefined
}

type LoopRunListener = (run: LoopRunInfo, running: boolean) => void
const runListeners = new Set<LoopRunListener>()

/** Told synchronously before a loop job starts and after it settles. */
export function watchLoopRuns(listener: LoopRunListener): () => void {
  runListeners.add(listener)
  return () => runListeners.delete(listener)
}

/** The id of the loop task whose code is running now (in its async context), if any. */
export const loopTask = new AsyncLocalStorage<string>()

export interface LoopOptions {
  cwd?: string
  jobsDirs?: string[]
  /** Where the jobs' ctx calls go (queues, locks, submit, wait). */
  host?: JobHost
}

/** What a loop job reports and asks, to its run's hooks and the engine; one object per run, no closures. */
class LoopSink implements JobSink {
  constructor(
    private readonly taskId: string,
    private readonly hooks: RunHooks,
    private readonly host: JobHost | null,
  ) {}

  progress(fraction: number | null, message?: string): void {
    this.hooks.progress(fraction, message)
  }

  log(line: string): void {
    this.hooks.log(line, 'log')
  }

  /** Cloned both ways, as a worker's call would be: a job never shares objects with another. */
  async call(call: JobCall, signal: AbortSignal): Promise<unknown> {
    if (!this.host) throw new Error('this executor has no engine to call')
    return structuredClone(await this.host.call(this.taskId, structuredClone(call), signal))
  }
}

class LoopRun implements Run {
  constructor(
    readonly result: Promise<unknown>,
    private readonly abort: RunAbort,
  ) {}

  cancel(): void {
    this.abort.abort()
  }

  /** A job on the engine's own loop cannot be forced. */
  kill(): boolean {
    return false
  }
}

export class LoopExecutor implements Executor {
  readonly kind = 'loop' as const
  private readonly cwd: string
  private readonly jobsDirs: string[]
  private readonly host: JobHost | null
  private readonly running = new Set<RunAbort>()

  constructor(opts: LoopOptions = {}) {
    this.cwd = path.resolve(opts.cwd ?? process.cwd())
    this.jobsDirs = opts.jobsDirs ?? []
    this.host = opts.host ?? null
  }

  start(request: RunRequest, hooks: RunHooks): Run {
    const spec = request.spec
    if (!('job' in spec)) return failedRun('the loop executor runs jobs, not commands')
    const ac = new RunAbort()
    this.running.add(ac)
    hooks.worker('loop')
    // Copies, as a worker would get: a job mutating its params or inputs must not touch the
    // task's spec or another task's result.
    const req = {
      job: spec.job,
      params: spec.params ? structuredClone(spec.params) : {},
      inputs: request.inputs.length > 0 ? structuredClone(request.inputs) : [],
      taskId: request.taskId,
      attempt: request.attempt,
      cwd: this.cwd,
      jobsDirs: this.jobsDirs,
    }
    const host = this.host
    const sink = new LoopSink(request.taskId, hooks, host)
    const info: LoopRunInfo = { taskId: request.taskId, name: spec.name ?? spec.job, killGraceMs: spec.killGraceMs }
    for (const l of runListeners) l(info, true)
    const result = loopTask.run(request.taskId, () => runJob(req, 'loop', ac, sink)).finally(() => {
      this.running.delete(ac)
      host?.runEnded(request.taskId)
      for (const l of runListeners) l(info, false)
    })
    return new LoopRun(result, ac)
  }

  resize(): void {}

  workers(): number {
    return 0
  }

  /** Aborts every running loop job; one that ignores its signal cannot be forced from here. */
  async close(): Promise<void> {
    for (const ac of this.running) ac.abort()
  }
}
