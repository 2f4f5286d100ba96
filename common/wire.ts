// Messages on the headless server's WebSocket (`GET /api/events`), both directions.
// The HTTP routes are declared with their operations in operations.ts.
import type { EngineEvent, LogLine } from './types'

/** server → client */
export type ServerMessage =
  | EngineEvent
  | { type: 'log'; id: string; lines: LogLine[] }
  | { type: 'error'; error: string }

/** client → server */
export type ClientMessage =
  | { type: 'resync' } // the client saw a gap in seq: send a fresh snapshot
  | { type: 'watch-log'; id: string }
  | { type: 'unwatch-log'; id: string }
