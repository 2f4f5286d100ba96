// A job is `async (params, ctx) => result`; the same function runs on loop, thread or process.
import type { BuiltinJob, JobExecutor, ReturnWhen, SubmitSpec, WaitResult } from '../../common/types'

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
  /** A named queue shared by every task on every executor (asyncio.Queue); `maxSize` bounds it (0: unbounded). */
  queue(name: string, options?: { maxSize?: number }): JobQueue
  /** Acquires a named mutex shared by every task on every executor; released by `release()`, `await using`, or the run's end. */
  lock(name: string): Promise<HeldLock>
  /** Submits tasks from this job, as children of its task (cancelled with it unless `detached`). */
  submit(spec: SubmitSpec): Promise<{ ids: string[]; batchId?: string }>
  /** Waits for tasks (asyncio.wait): every one final, the first, or the first failed; or the timeout. */
  wait(ids: string[], options?: { returnWhen?: ReturnWhen; timeoutMs?: number }): Promise<WaitResult>
}

/** Every call waits in the engine and rejects with an AbortError when the task is cancelled. */
export interface JobQueue {
  readonly name: string
  /** Waits while a bounded queue is full (backpressure). The item crosses as a structured clone. */
  put(item: unknown): Promise<void>
  /** Waits for an item. */
  get(): Promise<unknown>
  /** Marks one item got as processed (for `join`). */
  taskDone(): Promise<void>
  /** Waits until every item put has been marked with `taskDone`. */
  join(): Promise<void>
  size(): Promise<number>
}

// Node 20 has the symbol (for TypeScript's `await using`); the ES2023 lib does not declare it yet.
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol
  }
}

export interface HeldLock {
  readonly name: string
  release(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
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
  produce: 'loop',
  consume: 'loop',
  counter: 'loop',
  fanout: 'loop',
  'sleep-seconds': 'loop',
}
