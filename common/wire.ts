// Messages on the headless server's WebSocket (`GET /api/events`), both directions.
// HTTP routes are listed in the README ("Headless API") plus:
//   POST /api/limits {limits} → {limits}     POST /api/quit → 202     GET /api/snapshot → Snapshot
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
