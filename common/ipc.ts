// Every IPC channel between the Electron main process and the preload, with its direction.
import { OPERATION_NAMES, type OperationName } from './operations'

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
