// The engine and its task store at start (TaskStore.open has opened, migrated and loaded it; a
// folder that cannot be used stops the start there): keep it written as tasks change, end what a killed previous run left
// running, and bring its tasks back: history as it was, pending tasks queued again, tasks that
// were running failed as interrupted (or queued again when their spec says onInterrupt: requeue).
import path from 'node:path'
import { clearBlame, readBlame, type Blame } from './blame'
import { watchChildren } from './children'
import type { EventBatcher } from './events'
import { killMarked, processStartTime, reapOrphans } from './orphans'
import type { Scheduler } from './scheduler'
import type { Opened, TaskStore } from './store'
import { INTERRUPTED_MESSAGE, Task } from './task'

/** Writes every event batch to the store and records child process groups; returns the undo. */
export function persistTo(store: TaskStore, events: EventBatcher): () => void {
  // Written once per event batch: the batch already holds the latest snapshot of each changed task.
  const unsave = events.on((e) => store.save(e.tasks))
  const unwatch = watchChildren((pid, group, alive) => (alive ? store.addChild(pid, group, processStartTime(pid)) : store.removeChild(pid)))
  return () => {
    unwatch()
    unsave()
  }
}

export interface Recovered {
  /** Restored in a final state, oldest first: history only. */
  finished: Task[]
  /** Something the user must know about this start, told to every client. */
  notice: string | null
}

/** `markerScope`: the run-marker scope of this data folder (engine/orphans.ts), to end what a killed run's commands left. */
export function recover(
  store: TaskStore,
  saved: Opened['saved'],
  scheduler: Scheduler,
  o: { nextSeq(): number; markerScope: string },
): Recovered {
  const finished: Task[] = []
  try {
    const groups = reapOrphans(store.takeChildren())
    const reaped = groups.length
    const marked = killMarked((t) => t.startsWith(`${o.markerScope}.`), new Set(groups))
    // Tasks the host blamed for crashing or blocking the last engine thread (engine/blame.ts).
    const dataDir = path.dirname(store.file)
    restore(store, saved, scheduler, o, finished, readBlame(dataDir))
    if (!store.lastError) clearBlame(dataDir)
    return { finished, notice: leftoversNotice(reaped, marked) }
  } catch (e) {
    // An unreadable store must not stop the engine: it runs, and says what it could not read.
    store.lastError = `cannot read ${store.file}: ${e instanceof Error ? e.message : String(e)}`
    return { finished, notice: null }
  }
}

function restore(
  store: TaskStore,
  { tasks, batches }: Opened['saved'],
  scheduler: Scheduler,
  o: { nextSeq(): number },
  finished: Task[],
  blame: Blame[],
): void {
  const batchInfo = new Map(batches.map((b) => [b.id, { id: b.id, failFast: b.failFast }]))
  for (const b of batches) {
    const config = {
      name: b.name ?? 'batch',
      concurrency: b.concurrency,
      returnWhen: b.returnWhen ?? (b.failFast ? 'firstError' : 'all'),
      timeoutMs: b.timeoutMs ?? null,
      onSettled: b.onSettled ?? 'cancel',
    } as const
    scheduler.addBatch(b.id, config, b.createdAt)
  }
  const changed: Task[] = []
  const blamed = new Map(blame.map((b) => [b.id, b.message]))
  for (const snap of tasks) {
    const task = Task.restore(snap, o.nextSeq(), (snap.batchId && batchInfo.get(snap.batchId)) || null)
    if (task.final) {
      scheduler.addFinished(task)
      finished.push(task)
      continue
    }
    const blame = blamed.get(task.id)
    // A cluster task is BullMQ's to run again (on any node): here it only ends, as history.
    if (task.state !== 'pending' || blame !== undefined || task.queue !== null) {
      // A task that blocked or crashed the engine would do it again: it never runs again.
      const requeue = blame === undefined && task.spec.onInterrupt === 'requeue' && task.queue === null
      Object.assign(task, { state: requeue ? 'pending' : 'failed', worker: null, progress: null })
      if (requeue) {
        task.attempt++
        task.startedAt = null
      } else {
        task.reason = blame === undefined ? 'interrupted' : 'crashed'
        task.endedAt = Date.now()
        task.error = { message: blame ?? INTERRUPTED_MESSAGE }
        scheduler.addFinished(task)
        changed.push(task)
        continue
      }
      changed.push(task)
    }
    scheduler.add([task])
  }
  store.save(changed.map((t) => t.snapshot()))
}

function leftoversNotice(reaped: number, marked: number): string | null {
  if (reaped + marked === 0) return null
  const what = [
    ...(reaped > 0 ? [`${reaped} process group${reaped === 1 ? '' : 's'}`] : []),
    // Found by their run marker: descendants that had left their group (setsid, double fork).
    ...(marked > 0 ? [`${marked} process${marked === 1 ? '' : 'es'} that left ${reaped > 0 ? 'them' : 'their group'}`] : []),
  ]
  return `${what.join(' and ')} left running by the previous run (it was killed) ${reaped + marked === 1 ? 'was' : 'were'} ended.`
}
