// Electron wiring of the IPC channels declared in common/ipc.ts: one ipcMain.handle per INVOKE
// channel (dispatch lives in ipc-handlers.ts), engine events pushed on PUSH.event.
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron'
import type { TaskloopApi } from '../common/api'
import { INVOKE, PUSH, type IpcResult } from '../common/ipc'
import { createIpcHandlers, isTrustedSender, type InvokeName } from './ipc-handlers'

export interface IpcOrigin {
  /** URL of our index.html (app://taskloop/index.html). */
  pageUrl: string
  /** The dev server's URL under `electron-vite dev`. */
  devOrigin?: string | undefined
}

const refused: IpcResult<never> = {
  ok: false,
  error: { code: 'invalid', error: 'sender: IPC is only accepted from the Taskloop window', path: 'sender' },
}

/** Registers the handlers for one window; returns the function that removes them all. */
export function registerIpc(engine: TaskloopApi, win: BrowserWindow, origin: IpcOrigin): () => void {
  const send = (channel: string, ...args: unknown[]): void => {
    if (!win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(channel, ...args)
  }
  const { handlers, dispose } = createIpcHandlers(engine, (id, lines) => send(PUSH.log, id, lines))

  const trusted = (event: IpcMainInvokeEvent): boolean =>
    isTrustedSender(
      {
        isOurMainFrame:
          !win.isDestroyed() && event.sender === win.webContents && event.senderFrame === win.webContents.mainFrame,
        url: event.senderFrame?.url,
      },
      origin,
    )

  const names = Object.keys(INVOKE) as InvokeName[]
  for (const name of names) {
    ipcMain.handle(INVOKE[name], (event, ...args) => (trusted(event) ? handlers[name](...args) : refused))
  }
  const unsubscribe = engine.subscribe((event) => send(PUSH.event, event))

  return () => {
    unsubscribe()
    dispose()
    for (const name of names) ipcMain.removeHandler(INVOKE[name])
  }
}
