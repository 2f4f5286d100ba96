// Messages between the engine thread and its client proxy on the host thread, over postMessage (docs/ARCHITECTURE.md).
import { OPERATION_NAMES, type OperationName } from '../../common/operations'
import type { EventBatch, LogLine, QuitOptions, SubmitSpec } from '../../common/types'
import type { EngineOptions } from '../handle'
import type { SharedState } from './shared'

/** The operations of common/operations.ts, plus what only the host may call. */
export const CALLS: readonly CallName[] = [...OPERATION_NAMES, 'shutdown', 'submitWith', 'submitManyWith', 'finals']
export type CallName = OperationName | 'shutdown' | 'submitWith' | 'submitManyWith' | 'finals'

export interface EngineThreadData {
  options: EngineOptions
  /** The heartbeat and the loop runs, read by the host without asking this thread. */
  shared: SharedState
}

/** client → engine thread */
export type ToEngine =
  | { type: 'call'; id: number; method: CallName; args: unknown[] }
  | { type: 'watch-log'; watch: number; id: string }
  | { type: 'unwatch-log'; watch: number }
  | { type: 'escalate' }
  /** The host takes jobs' queued submits (EngineHandle.onQueuedSubmit), and its answer to one. */
  | { type: 'forward-queued' }
  /** The host takes every log line of the cluster's tasks (EngineHandle.followClusterLogs). */
  | { type: 'follow-cluster-logs' }
  | { type: 'queued-reply'; id: number; ok: true; value: { ids: string[] } }
  | { type: 'queued-reply'; id: number; ok: false; error: { code: string; error: string; path?: string } }

/** engine thread → client */
export type FromEngine =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: { code: string; error: string; path?: string } }
  /**
   * An event batch: its tasks and counters as the JSON text of task deltas (event-pack.ts: a third
   * of the whole tasks' text, cheaper to write, post and read back than either that or a structured
   * clone), the rest (limits, which may be unbounded, shutdown status, stats) as it is.
   */
  | { type: 'batch'; text: string; extra?: BatchExtra }
  /** A batch could not be written: the next one starts from nothing (a new packer), and skips a seq. */
  | { type: 'batch-lost' }
  | { type: 'log'; watch: number; lines: LogLine[] }
  | { type: 'cluster-logs'; logs: { id: string; lines: LogLine[] }[] }
  | { type: 'child'; pid: number; group: boolean; alive: boolean; marker?: string }
  /** The loop task whose code was running when this thread threw past every handler or exited. */
  | { type: 'culprit'; id: string }
  | { type: 'quit'; options: QuitOptions }
  /** A job's ctx.submit of a spec with `queue`, for the host's cluster layer. */
  | { type: 'queued-submit'; id: number; spec: SubmitSpec }

/** What an event batch carries besides its tasks and counters, rarely: posted by structured clone. */
export type BatchExtra = Pick<EventBatch, 'limits' | 'shutdown' | 'stats' | 'forgot'>

/** The extra fields of a batch; undefined when it has none. */
export function batchExtra(batch: EventBatch): BatchExtra | undefined {
  if (batch.limits === undefined && batch.shutdown === undefined && batch.stats === undefined && batch.forgot === undefined) return undefined
  const extra: BatchExtra = {}
  if (batch.limits !== undefined) extra.limits = batch.limits
  if (batch.shutdown !== undefined) extra.shutdown = batch.shutdown
  if (batch.stats !== undefined) extra.stats = batch.stats
  if (batch.forgot !== undefined) extra.forgot = batch.forgot
  return extra
}
