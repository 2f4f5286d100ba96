// What the UI asks of the engine, through the tasks store's connection: submit, cancel, retry
// (one task or many), limits, pause and resume, quit and force, a task's log, pages of history.
// A refusal lands in the tasks store's lastError (the banner) instead of being lost.
import { defineStore } from 'pinia'
import type { TaskloopApi } from '../../../common/api'
import type { HistoryQuery, Limits, LogLine, QuitOptions, SubmitSpec, TaskSnapshot } from '../../../common/types'
import { TaskloopError } from '../../../common/types'
import { useTasksStore } from './tasks'

/** Operations on a selection go out this many at a time. */
const OP_CONCURRENCY = 32

export const isCancellable = (t: TaskSnapshot): boolean => t.state === 'pending' || t.state === 'running'
export const isRetryable = (t: TaskSnapshot): boolean => t.state === 'failed' || t.state === 'cancelled'
/** A done task can run again (the same Retry operation); offered in the detail only. */
export const isRerunnable = (t: TaskSnapshot): boolean => t.state === 'done'

export const useActionsStore = defineStore('actions', () => {
  const tasks = useTasksStore()

  /** Runs an operation; a refusal lands in lastError instead of being lost. */
  async function attempt<T>(op: (api: TaskloopApi) => Promise<T>): Promise<T | undefined> {
    try {
      const value = await op(tasks.connection())
      tasks.lastError = null
      return value
    } catch (e) {
      tasks.lastError = TaskloopError.from(e)
      return undefined
    }
  }

  /** One operation per id of the tasks `applies` to, a few at a time; the first refusal is kept, the rest still run. */
  async function each(
    ids: readonly string[],
    applies: (t: TaskSnapshot) => boolean,
    op: (api: TaskloopApi, id: string) => Promise<unknown>,
  ): Promise<number> {
    const todo = ids.filter((id) => {
      const t = tasks.tasks.get(id)
      return t !== undefined && applies(t)
    })
    let next = 0
    let ok = 0
    let failure: unknown = null
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const id = todo[next++]!
        try {
          await op(tasks.connection(), id)
          ok++
        } catch (e) {
          failure ??= e
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(OP_CONCURRENCY, todo.length) }, worker))
    tasks.lastError = failure === null ? null : TaskloopError.from(failure)
    return ok
  }

  return {
    /** Rejects with the refusal so the launcher can show it beside its fields. */
    submit: (spec: SubmitSpec) => tasks.connection().submit(spec),
    /** A page of the store's history (the History view shows its refusal itself). */
    pageHistory: (query: HistoryQuery) => tasks.connection().history(query),
    /** Any operation, its refusal landing in lastError: for a component that owns its one use of it. */
    attempt,
    cancel: (id: string) => attempt((a) => a.cancel(id)),
    retry: (id: string) => attempt((a) => a.retry(id)),
    /** Cancels every cancellable task among ids; returns how many were asked. */
    cancelMany: (ids: readonly string[]) => each(ids, isCancellable, (a, id) => a.cancel(id)),
    retryMany: (ids: readonly string[]) => each(ids, isRetryable, (a, id) => a.retry(id)),
    /** This node's unfinished tasks (in a cluster, what it runs or waits to run). */
    cancelAll: () => attempt((a) => a.cancelAll()),
    /** In a cluster: every unfinished cluster task too, wherever it runs or waits. */
    cancelCluster: () => attempt((a) => a.cancelAll({ cluster: true })),
    setLimits: async (next: Partial<Limits>) => {
      const updated = await attempt((a) => a.setLimits(next))
      // Shown at once; the engine's next batch carries the same limits.
      if (updated) tasks.limits = updated
      return updated
    },
    /** A batch's progress and gathered results (the detail's Batch section shows its own refusal). */
    batch: (id: string) => tasks.connection().batch(id),
    pause: () => attempt((a) => a.pause()),
    resume: () => attempt((a) => a.resume()),
    quit: (options?: QuitOptions) => attempt((a) => a.quit(options)),
    forceShutdown: () => attempt((a) => a.forceShutdown()),
    /** One task's log: existing tail, then new lines. Returns the unsubscribe function. */
    watchLog: (id: string, listener: (lines: LogLine[]) => void) => tasks.connection().subscribeLog(id, listener),
  }
})
