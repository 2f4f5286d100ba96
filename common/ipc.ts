// Every IPC channel between the Electron main process and the preload, declared once with its direction.

/** renderer → main, request/response (ipcRenderer.invoke / ipcMain.handle). */
export const INVOKE = {
  submit: 'taskloop:submit',
  list: 'taskloop:list',
  history: 'taskloop:history',
  get: 'taskloop:get',
  cancel: 'taskloop:cancel',
  retry: 'taskloop:retry',
  cancelAll: 'taskloop:cancel-all',
  stats: 'taskloop:stats',
  setLimits: 'taskloop:set-limits',
  snapshot: 'taskloop:snapshot',
  batch: 'taskloop:batch',
  pause: 'taskloop:pause',
  resume: 'taskloop:resume',
  setGroupLimit: 'taskloop:set-group-limit',
  watchLog: 'taskloop:watch-log',
  unwatchLog: 'taskloop:unwatch-log',
  quit: 'taskloop:quit',
} as const

/** main → renderer, one-way (webContents.send / ipcRenderer.on). */
export const PUSH = {
  event: 'taskloop:event',
  log: 'taskloop:log',
} as const

export type InvokeChannel = (typeof INVOKE)[keyof typeof INVOKE]
export type PushChannel = (typeof PUSH)[keyof typeof PUSH]

/** Result envelope over IPC: Electron loses custom error fields, so errors travel as values. */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: { code: string; error: string; path?: string } }
