// The shape of `window.taskloop`, the only thing the preload exposes to the page.
// Each operation returns the IpcResult envelope as main sent it; the renderer's api/electron.ts
// unwraps it into values and TaskloopErrors.
import type { IpcResult } from '../common/ipc'
import type { OperationArgs, OperationName, OperationResult } from '../common/operations'
import type { EngineEvent, LogLine } from '../common/types'

/** One function per operation of common/operations.ts. */
export type BridgeOperations = {
  [K in OperationName]: (...args: OperationArgs<K>) => Promise<IpcResult<OperationResult<K>>>
}

export interface TaskloopBridge extends BridgeOperations {
  /** Snapshots and event batches pushed by main. Returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void
  /** Existing tail, then new lines of one task's log. Returns the unsubscribe function. */
  watchLog(id: string, listener: (lines: LogLine[]) => void): () => void
}
