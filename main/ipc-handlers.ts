// What each IPC channel does, without Electron: pass the operation's arguments to the engine (whose
// parse is the validation, the same over every transport) and wrap the outcome in an IpcResult
// envelope. main/ipc.ts only wires these to ipcMain; tests call them directly.
import type { TaskloopApi } from '../common/api'
import { INVOKE, type IpcResult } from '../common/ipc'
import { callOperation, proxyOperations, type OperationName } from '../common/operations'
import { parseTaskId } from '../common/schema'
import { TaskloopError, type LogLine } from '../common/types'

export type InvokeName = keyof typeof INVOKE
export type InvokeHandler = (...args: unknown[]) => Promise<IpcResult<unknown>>

export interface IpcHandlers {
  readonly handlers: Record<InvokeName, InvokeHandler>
  /** Ends every log subscription (window gone, app quitting). */
  dispose(): void
}

/** Runs `fn` and turns its value or refusal into an envelope: Electron drops custom error fields. */
export async function toResult<T>(fn: () => T | Promise<T>): Promise<IpcResult<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (e) {
    return { ok: false, error: TaskloopError.from(e).toJSON() }
  }
}

/**
 * @param engine the API the renderer may reach
 * @param sendLog delivers one task's log lines to the window (PUSH.log)
 */
export function createIpcHandlers(engine: TaskloopApi, sendLog: (id: string, lines: LogLine[]) => void): IpcHandlers {
  // One log subscription per task id: the renderer watches a task while it shows its log.
  const logWatches = new Map<string, () => void>()

  const unwatch = (id: string): void => {
    logWatches.get(id)?.()
    logWatches.delete(id)
  }

  const handlers: Record<InvokeName, InvokeHandler> = {
    ...proxyOperations<Record<OperationName, InvokeHandler>>((name, args) => toResult(() => callOperation(engine, name, args))),
    // The id keys this window's watches, so the channel decodes it as the WebSocket's does.
    watchLog: (id) =>
      toResult(() => {
        const taskId = parseTaskId(id)
        if (!logWatches.has(taskId)) logWatches.set(taskId, engine.subscribeLog(taskId, (lines) => sendLog(taskId, lines)))
      }),
    unwatchLog: (id) => toResult(() => unwatch(parseTaskId(id))),
  }

  return {
    handlers,
    dispose: () => {
      for (const id of [...logWatches.keys()]) unwatch(id)
    },
  }
}

/**
 * Whether an IPC message comes from our own page: the main frame of our window, showing our
 * index.html (app://taskloop/index.html) or, under `electron-vite dev`, a page of the dev server.
 */
export function isTrustedSender(
  sender: { isOurMainFrame: boolean; url: string | undefined },
  allowed: { pageUrl: string; devOrigin?: string | undefined },
): boolean {
  if (!sender.isOurMainFrame || !sender.url) return false
  let url: URL
  try {
    url = new URL(sender.url)
  } catch {
    return false
  }
  const page = new URL(allowed.pageUrl)
  // Scheme, host and path: a custom scheme has no URL origin to compare.
  if (url.protocol === page.protocol) return url.host === page.host && url.pathname === page.pathname
  return allowed.devOrigin !== undefined && url.origin === new URL(allowed.devOrigin).origin
}
