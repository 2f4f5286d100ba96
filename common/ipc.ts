// Every IPC channel between the Electron main process and the preload, with its direction.
import { OPERATION_NAMES, type OperationArgs, type OperationName, type OperationResult } from './operations'
import type { EngineEvent, LogLine } from './types'

/** An operation's channel is its name in kebab case, after `taskloop:`. */
const channelOf = (name: string): string => `taskloop:${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

/** renderer → main, request/response (ipcRenderer.invoke / ipcMain.handle): the operations, and the log watch. */
export const INVOKE = {
  ...(Object.fromEntries(OPERATION_NAMES.map((name) => [name, channelOf(name)])) as Record<OperationName, string>),
  watchLog: 'taskloop:watch-log',
  unwatchLog: 'taskloop:unwatch-log',
}

/** main → renderer, one-way (webContents.send / ipcRenderer.on). */
export const PUSH = {
  event: 'taskloop:event',
  log: 'taskloop:log',
} as const

/** Result envelope over IPC: Electron loses custom error fields, so errors travel as values. */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: { code: string; error: string; path?: string } }

/** One function per operation of common/operations.ts, answering the envelope as main sent it. */
export type BridgeOperations = {
  [K in OperationName]: (...args: OperationArgs<K>) => Promise<IpcResult<OperationResult<K>>>
}

/**
 * The shape of `window.taskloop`, the only thing the preload exposes to the page. It lives here,
 * not in preload/, because both ends use it: preload/index.ts builds it, the renderer's
 * api/electron.ts unwraps its envelopes into values and TaskloopErrors.
 */
export interface TaskloopBridge extends BridgeOperations {
  /** Snapshots and event batches pushed by main. Returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void
  /** Existing tail, then new lines of one task's log. Returns the unsubscribe function. */
  watchLog(id: string, listener: (lines: LogLine[]) => void): () => void
}
