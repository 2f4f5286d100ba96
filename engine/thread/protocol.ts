// Messages between the engine thread and its client proxy on the host thread, over postMessage (docs/ARCHITECTURE.md).
import { OPERATION_NAMES, type OperationName } from '../../common/operations'
import type { EngineEvent, LogLine, QuitOptions, SubmitSpec } from '../../common/types'
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
  | { type: 'queued-reply'; id: number; ok: true; value: { ids: string[] } }
  | { type: 'queued-reply'; id: number; ok: false; error: { code: string; error: string; path?: string } }

/** engine thread → client */
export type FromEngine =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: { code: string; error: string; path?: string } }
  | { type: 'event'; event: EngineEvent }
  /**
   * A batch of tasks and counters only (no stats, limits or shutdown status), as its JSON text:
   * cheaper to read back than a structured clone, and the text is what the plain form of the
   * WebSocket sends (eventText), so the host does not write it again.
   */
  | { type: 'event-text'; text: string }
  | { type: 'log'; watch: number; lines: LogLine[] }
  | { type: 'child'; pid: number; group: boolean; alive: boolean; marker?: string }
  /** The loop task whose code was running when this thread threw past every handler or exited. */
  | { type: 'culprit'; id: string }
  | { type: 'quit'; options: QuitOptions }
  /** A job's ctx.submit of a spec with `queue`, for the host's cluster layer. */
  | { type: 'queued-submit'; id: number; spec: SubmitSpec }

/** The JSON text an event crossed the thread boundary as (event-text), for a transport that sends it as it is. */
export const eventText = new WeakMap<object, string>()

/** How the engine thread posts an event: a plain batch of tasks as its JSON text, anything else as it is. */
export function eventMessage(event: EngineEvent): FromEngine {
  if (event.type === 'batch' && event.stats === undefined && event.limits === undefined && event.shutdown === undefined) {
    return { type: 'event-text', text: JSON.stringify(event) }
  }
  return { type: 'event', event }
}
