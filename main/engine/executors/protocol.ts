// The messages between a pool (thread or process) and its worker, and the worker side's loop.
// In: run, cancel. Out: ready, progress, log, result, error, fatal.
import type { JobExecutor } from '../../../common/types'
import { TaskFailure, type FailureKind } from './executor'
import { runJob, type JobRequest } from './run-job'

export type ToWorker = { type: 'run'; id: number; request: JobRequest } | { type: 'cancel'; id: number }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: number; fraction: number | null; message?: string }
  | { type: 'log'; id: number; line: string }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; kind: FailureKind; message: string; stack?: string }
  /** The worker is about to die of an uncaught error: the reason for the run it takes down. */
  | { type: 'fatal'; message: string; stack?: string }

export interface WorkerChannel {
  send(msg: FromWorker): void
  onMessage(listener: (msg: ToWorker) => void): void
}

/** The worker side: runs each `run` with its own AbortSignal; `cancel` aborts it. */
export function serveJobs(channel: WorkerChannel, executor: Exclude<JobExecutor, 'loop'>): void {
  const running = new Map<number, AbortController>()
  channel.onMessage((msg) => {
    if (msg.type === 'cancel') {
      running.get(msg.id)?.abort()
      return
    }
    const { id, request } = msg
    const ac = new AbortController()
    running.set(id, ac)
    const sink = {
      progress: (fraction: number | null, message?: string) => channel.send({ type: 'progress', id, fraction, message }),
      log: (line: string) => channel.send({ type: 'log', id, line }),
    }
    runJob(request, executor, ac.signal, sink).then(
      (value) => channel.send({ type: 'result', id, value }),
      (e: TaskFailure) => channel.send({ type: 'error', id, kind: e.kind, message: e.message, stack: e.stack }),
    ).finally(() => running.delete(id))
  })
  channel.send({ type: 'ready' })
}

export function failureFrom(msg: Extract<FromWorker, { type: 'error' }>): TaskFailure {
  return new TaskFailure(msg.kind, msg.message, msg.stack)
}
