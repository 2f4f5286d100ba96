// Exposes `window.taskloop`: one function per operation of common/operations.ts, each bound to its channel.
// The page never sees ipcRenderer, so it can reach nothing but these operations.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { INVOKE, PUSH, type BridgeOperations, type TaskloopBridge } from '../common/ipc'
import type { EngineEvent, LogLine } from '../common/types'
import { proxyOperations } from '../common/operations'

/** Listens on a push channel; returns the function that stops listening. */
function listen<T extends unknown[]>(channel: string, listener: (...args: T) => void): () => void {
  const wrapped = (_event: IpcRendererEvent, ...args: unknown[]): void => listener(...(args as T))
  ipcRenderer.on(channel, wrapped)
  return () => ipcRenderer.removeListener(channel, wrapped)
}

const bridge: TaskloopBridge = {
  ...proxyOperations<BridgeOperations>((name, args) => ipcRenderer.invoke(INVOKE[name], ...args)),
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
}

contextBridge.exposeInMainWorld('taskloop', bridge)
