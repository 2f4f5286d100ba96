// One executor per kind, built from the engine's options.
import type { ExecutorKind, Limits } from '../../common/types'
import { CommandExecutor } from './command'
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
}

export function createExecutors(opts: ExecutorsOptions = {}): Record<ExecutorKind, Executor> {
  const { cwd, jobsDirs, limits = {} } = opts
  return {
    loop: new LoopExecutor({ cwd, jobsDirs }),
    thread: new ThreadPool({ cwd, jobsDirs, size: limits.thread, ...(opts.threadHeapMb ? { heapMb: opts.threadHeapMb } : {}) }),
    process: new ProcessPool({ cwd, jobsDirs, size: limits.process }),
    command: new CommandExecutor({ cwd, ...(opts.markerScope ? { markerScope: opts.markerScope } : {}) }),
  }
}

export { CommandExecutor, LoopExecutor, ProcessPool, ThreadPool }
export type { Executor }
