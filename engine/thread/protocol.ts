// Messages between the engine thread and its client proxy (call_soon_threadsafe, as postMessage).
import type { EngineEvent, LogLine, QuitOptions } from '../../common/types'
import type { EngineOptions } from '../handle'

export const CALLS = [
  'submit',
  'list',
  'history',
  'get',
  'cancel',
  'retry',
  'cancelAll',
  'stats',
  'setLimits',
  'snapshot',
  'quit',
  'shutdown',
  'pause',
  'resume',
  'setGroupLimit',
  'batch',
] as const
export type CallName = (typeof CALLS)[number]

export interface EngineThreadData {
  options: EngineOptions
}

/** client → engine thread */
export type ToEngine =
  | { type: 'call'; id: number; method: CallName; args: unknown[] }
  | { type: 'watch-log'; watch: number; id: string }
  | { type: 'unwatch-log'; watch: number }
  | { type: 'escalate' }

/** engine thread → client */
export type FromEngine =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: { code: string; error: string; path?: string } }
  | { type: 'event'; event: EngineEvent }
  | { type: 'log'; watch: number; lines: LogLine[] }
  | { type: 'child'; pid: number; group: boolean; alive: boolean; marker?: string }
  | { type: 'quit'; options: QuitOptions }
