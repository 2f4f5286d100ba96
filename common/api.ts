import type {
  EngineEvent,
  Limits,
  ListQuery,
  LogLine,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskDetail,
  TaskSnapshot,
} from './types'

/**
 * The one interface through which anything outside the engine reaches it:
 * the engine itself (in-process), its thread proxy, the preload bridge and the HTTP/WebSocket client.
 * Refusals reject with a TaskloopError.
 */
export interface TaskloopApi {
  /** batchId is set when a batch was submitted. */
  submit(spec: SubmitSpec): Promise<{ ids: string[]; batchId?: string }>
  list(query?: ListQuery): Promise<TaskSnapshot[]>
  get(id: string): Promise<TaskDetail>
  cancel(id: string): Promise<void>
  retry(id: string): Promise<{ id: string }>
  cancelAll(): Promise<void>
  stats(): Promise<Stats>
  setLimits(limits: Partial<Limits>): Promise<Limits>
  snapshot(): Promise<Snapshot>
  /** Snapshot first, then event batches. Returns the unsubscribe function. */
  subscribe(listener: (event: EngineEvent) => void): () => void
  /** Existing tail first, then new lines of one task's log. */
  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void
  /** The UI's Quit: runs the shutdown sequence of the host (app or server). */
  quit(): Promise<void>
}
