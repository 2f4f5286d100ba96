// The job side of ctx.queue, ctx.lock, ctx.submit and ctx.wait: each becomes a call to the engine
// (engine/job-calls.ts), direct on loop, over the worker's channel on thread and process. The
// engine holds the queues and locks, so tasks on different executors share them.
import type { JobCall } from '../../common/types'
import type { HeldLock, JobContext, JobQueue } from './job'

/** Sends one call to the engine; rejects with an AbortError when the task's signal aborts it there. */
export type CallEngine = (call: JobCall) => Promise<unknown>

export function primitives(callEngine: CallEngine): Pick<JobContext, 'queue' | 'lock' | 'submit' | 'wait'> {
  return {
    queue(name, options = {}): JobQueue {
      const { maxSize } = options
      const on = (op: 'queue.get' | 'queue.taskDone' | 'queue.join' | 'queue.size'): Promise<unknown> =>
        callEngine({ op, name, ...(maxSize !== undefined ? { maxSize } : {}) })
      return {
        name,
        put: async (item) => void (await callEngine({ op: 'queue.put', name, item, ...(maxSize !== undefined ? { maxSize } : {}) })),
        get: () => on('queue.get'),
        taskDone: async () => void (await on('queue.taskDone')),
        join: async () => void (await on('queue.join')),
        size: async () => (await on('queue.size')) as number,
      }
    },
    async lock(name): Promise<HeldLock> {
      await callEngine({ op: 'lock.acquire', name })
      let released = false
      const release = async (): Promise<void> => {
        if (released) return
        released = true
        await callEngine({ op: 'lock.release', name })
      }
      return { name, release, [Symbol.asyncDispose]: release }
    },
    submit: async (spec) => (await callEngine({ op: 'submit', spec })) as { ids: string[]; batchId?: string },
    wait: async (ids, options = {}) => (await callEngine({ op: 'wait', ids, ...options })) as Awaited<ReturnType<JobContext['wait']>>,
  }
}
