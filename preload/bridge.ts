// The shape of `window.taskloop`, the only thing the preload exposes to the page.
// Each operation returns the IpcResult envelope as main sent it; the renderer's api/electron.ts
// unwraps it into values and TaskloopErrors.
import type { IpcResult } from '../common/ipc'
import type {
  BatchSnapshot,
  EngineEvent,
  HistoryQuery,
  Limits,
  ListQuery,
  LogLine,
  QuitOptions,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskDetail,
  TaskSnapshot,
} from '../common/types'

export interface TaskloopBridge {
  submit(spec: SubmitSpec): Promise<IpcResult<{ ids: string[]; batchId?: string }>>
  list(query?: ListQuery): Promise<IpcResult<TaskSnapshot[]>>
  history(query?: HistoryQuery): Promise<IpcResult<TaskSnapshot[]>>
  get(id: string): Promise<IpcResult<TaskDetail>>
  cancel(id: string): Promise<IpcResult<void>>
  retry(id: string): Promise<IpcResult<{ id: string }>>
  cancelAll(): Promise<IpcResult<void>>
  stats(): Promise<IpcResult<Stats>>
  setLimits(limits: Partial<Limits>): Promise<IpcResult<Limits>>
  snapshot(): Promise<IpcResult<Snapshot>>
  batch(id: string): Promise<IpcResult<BatchSnapshot>>
  pause(): Promise<IpcResult<void>>
  resume(): Promise<IpcResult<void>>
  setGroupLimit(group: string, limit: number | null): Promise<IpcResult<Record<string, number>>>
  /** Snapshots and event batches pushed by main. Returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void
  /** Existing tail, then new lines of one task's log. Returns the unsubscribe function. */
  watchLog(id: string, listener: (lines: LogLine[]) => void): () => void
  quit(options?: QuitOptions): Promise<IpcResult<void>>
}
