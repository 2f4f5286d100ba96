// A job is `async (params, ctx) => result`; the same function runs on loop, thread or process.
import type { BuiltinJob, JobExecutor } from '../../common/types'

export interface JobContext {
  /** Aborted when the task is cancelled or times out; a job should stop promptly. */
  signal: AbortSignal
  /** fraction in 0..1 (null: indeterminate), optional message. */
  progress(fraction: number | null, message?: string): void
  log(line: string): void
  /**
   * Results of the tasks named in the spec's `after`, in that order; with afterWhen "always" or
   * "failed", an error slot `{ error: { name, message, code } }` for one that failed or was cancelled.
   */
  inputs: unknown[]
  taskId: string
  attempt: number
  /** Where this run executes; lets a job refuse what would harm the engine (crash on loop). */
  executor: JobExecutor
  /** The engine's base folder, for relative paths in params. */
  cwd: string
}

export type JobFn = (params: Record<string, unknown>, ctx: JobContext) => unknown

/** Where each built-in runs when the spec names no executor. */
export const DEFAULT_EXECUTOR: Record<BuiltinJob, JobExecutor> = {
  sleep: 'loop',
  http: 'loop',
  ticker: 'loop',
  fail: 'loop',
  spin: 'thread',
  primes: 'thread',
  hash: 'thread',
  crash: 'thread',
}
