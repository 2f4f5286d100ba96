// Exposes `window.taskloop`: one function per operation, each bound to its declared channel.
// The page never sees ipcRenderer, so it can reach nothing but these operations.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { INVOKE, PUSH } from '../common/ipc'
import type { EngineEvent, LogLine } from '../common/types'
import type { TaskloopBridge } from './bridge'

/** Listens on a push channel; returns the function that stops listening. */
function listen<T extends unknown[]>(channel: string, listener: (...args: T) => void): () => void {
  const wrapped = (_event: IpcRendererEvent, ...args: unknown[]): void => listener(...(args as T))
  ipcRenderer.on(channel, wrapped)
  return () => ipcRenderer.removeListener(channel, wrapped)
}

const bridge: TaskloopBridge = {
  submit: (spec) => ipcRenderer.invoke(INVOKE.submit, spec),
  list: (query) => ipcRenderer.invoke(INVOKE.list, query),
  history: (query) => ipcRenderer.invoke(INVOKE.history, query),
  get: (id) => ipcRenderer.invoke(INVOKE.get, id),
  cancel: (id) => ipcRenderer.invoke(INVOKE.cancel, id),
  retry: (id) => ipcRenderer.invoke(INVOKE.retry, id),
  cancelAll: () => ipcRenderer.invoke(INVOKE.cancelAll),
  stats: () => ipcRenderer.invoke(INVOKE.stats),
  setLimits: (limits) => ipcRenderer.invoke(INVOKE.setLimits, limits),
  snapshot: () => ipcRenderer.invoke(INVOKE.snapshot),
  batch: (id) => ipcRenderer.invoke(INVOKE.batch, id),
  pause: () => ipcRenderer.invoke(INVOKE.pause),
  resume: () => ipcRenderer.invoke(INVOKE.resume),
  setGroupLimit: (group, limit) => ipcRenderer.invoke(INVOKE.setGroupLimit, group, limit),
  onEvent: (listener) => listen<[EngineEvent]>(PUSH.event, listener),
  watchLog: (id, listener) => {
    const stop = listen<[string, LogLine[]]>(PUSH.log, (taskId, lines) => {
      if (taskId === id) listener(lines)
    })
    void ipcRenderer.invoke(INVOKE.watchLog, id)
    return () => {
      stop()
      void ipcRenderer.invoke(INVOKE.unwatchLog, id)
    }
  },
  quit: (options) => ipcRenderer.invoke(INVOKE.quit, options),
}

contextBridge.exposeInMainWorld('taskloop', bridge)
