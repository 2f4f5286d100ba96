// Where a running job's calls reach the engine (ctx.queue, ctx.lock, ctx.submit, ctx.wait), from
// every executor: loop jobs call it directly, thread and process workers through their pool
// (engine/executors/protocol.ts). Each call is parsed here, once, and knows its task. A call
// waiting in the engine leaves when its signal aborts (the task's cancel); when a run ends, the
// calls it left waiting are dropped and its locks released.
import { parseJobCall } from '../common/schema'
import type { JobCall, SubmitSpec, WaitResult } from '../common/types'
import { Locks } from './locks'
import { Queues } from './queues'
import { Waits } from './waits'
import type { Task } from './task'

/** What an executor needs to pass a job's calls on. */
export interface JobHost {
  call(taskId: string, call: JobCall, signal: AbortSignal): Promise<unknown>
  /** The task's run ended, however: its waiting calls leave, its locks are released. */
  runEnded(taskId: string): void
}

export interface JobCallsOptions {
  submit(parentId: string, spec: SubmitSpec): Promise<{ ids: string[]; batchId?: string }>
  task(id: string): Task | undefined
}

export class JobCalls implements JobHost {
  readonly queues = new Queues()
  readonly locks = new Locks()
  readonly waits: Waits
  /** Calls in flight per task, to drop when its run ends. */
  private readonly inFlight = new Map<string, Set<AbortController>>()

  constructor(private readonly o: JobCallsOptions) {
    this.waits = new Waits(o.task)
  }

  async call(taskId: string, input: JobCall, signal: AbortSignal): Promise<unknown> {
    const call = parseJobCall(input)
    const ac = new AbortController()
    const forward = (): void => ac.abort()
    signal.addEventListener('abort', forward, { once: true })
    if (signal.aborted) ac.abort()
    let set = this.inFlight.get(taskId)
    if (!set) this.inFlight.set(taskId, (set = new Set()))
    set.add(ac)
    try {
      return await this.dispatch(taskId, call, ac.signal)
    } finally {
      signal.removeEventListener('abort', forward)
      set.delete(ac)
      if (set.size === 0 && this.inFlight.get(taskId) === set) this.inFlight.delete(taskId)
    }
  }

  runEnded(taskId: string): void {
    const set = this.inFlight.get(taskId)
    this.inFlight.delete(taskId)
    if (set) for (const ac of set) ac.abort()
    this.locks.releaseAll(taskId)
  }

  private dispatch(taskId: string, call: JobCall, signal: AbortSignal): Promise<unknown> | unknown {
    switch (call.op) {
      case 'queue.put':
        return this.queues.put(call.name, call.maxSize, call.item, taskId, signal)
      case 'queue.get':
        return this.queues.get(call.name, call.maxSize, taskId, signal)
      case 'queue.taskDone':
        return this.queues.taskDone(call.name, call.maxSize)
      case 'queue.join':
        return this.queues.join(call.name, call.maxSize, taskId, signal)
      case 'queue.size':
        return this.queues.size(call.name)
      case 'lock.acquire':
        return this.locks.acquire(call.name, taskId, signal)
      case 'lock.release':
        return this.locks.release(call.name, taskId)
      case 'submit':
        return this.o.submit(taskId, call.spec)
      case 'wait':
        return this.waits.wait(call.ids, call.returnWhen ?? 'all', call.timeoutMs, taskId, signal) satisfies Promise<WaitResult>
    }
  }
}
