import type {
  BatchSnapshot,
  HistoryQuery,
  EngineEvent,
  Limits,
  ListQuery,
  LogLine,
  QuitOptions,
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
  /** History beyond what the engine keeps live: pages from the store, newest first. */
  history(query?: HistoryQuery): Promise<TaskSnapshot[]>
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
  /** A batch's progress and its results in submission order (gather). */
  batch(id: string): Promise<BatchSnapshot>
  /** Pause intake: running tasks go on, nothing new starts until resume. */
  pause(): Promise<void>
  resume(): Promise<void>
  /** Concurrency limit for one group (null removes it); returns every group limit. */
  setGroupLimit(group: string, limit: number | null): Promise<Record<string, number>>
  /** The UI's Quit: runs the shutdown sequence of the host (app or server); `pending` keeps or cancels the queue. */
  quit(options?: QuitOptions): Promise<void>
}
