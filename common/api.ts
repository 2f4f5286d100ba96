import type { OperationMethods } from './operations'
import type { EngineEvent, LogLine } from './types'

/**
 * The one interface through which anything outside the engine reaches it:
 * the engine itself (in-process), its thread proxy, the preload bridge and the HTTP/WebSocket client.
 * Its request/response operations are declared in operations.ts; the two streams below have their
 * own wiring in each transport. Refusals reject with a TaskloopError.
 */
export interface TaskloopApi extends OperationMethods {
  /** Snapshot first, then event batches. Returns the unsubscribe function. */
  subscribe(listener: (event: EngineEvent) => void): () => void
  /** Existing tail first, then new lines of one task's log. */
  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void
}
