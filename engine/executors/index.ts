// One executor per kind, built from the engine's options.
import type { ExecutorKind, Limits } from '../../common/types'
import { CommandExecutor } from './command'
import type { JobHost } from '../job-calls'
import type { Executor } from './executor'
import { LoopExecutor } from './loop'
import { ProcessPool } from './process-pool'
import { ThreadPool } from './thread-pool'

export interface ExecutorsOptions {
  cwd?: string
  jobsDirs?: string[]
  limits?: Partial<Limits>
  /** Heap limit of each pool thread, MB. */
  threadHeapMb?: number
  /** Prefix of the commands' run markers (orphans.ts markerScope). */
  markerScope?: string
  /** Where the jobs' ctx calls go (engine/job-calls.ts). */
  host?: JobHost
}

export function createExecutors(opts: ExecutorsOptions = {}): Record<ExecutorKind, Executor> {
  const { cwd, jobsDirs, limits = {}, host } = opts
  return {
    loop: new LoopExecutor({ cwd, jobsDirs, host }),
    thread: new ThreadPool({ cwd, jobsDirs, host, size: limits.thread, ...(opts.threadHeapMb ? { heapMb: opts.threadHeapMb } : {}) }),
    process: new ProcessPool({ cwd, jobsDirs, host, size: limits.process }),
    command: new CommandExecutor({ cwd, ...(opts.markerScope ? { markerScope: opts.markerScope } : {}) }),
  }
}

export { CommandExecutor, LoopExecutor, ProcessPool, ThreadPool }
export type { Executor }
