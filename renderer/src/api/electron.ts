// TaskloopApi over the preload bridge (`window.taskloop`): unwraps IpcResult envelopes into
// values and TaskloopErrors.
import type { TaskloopApi } from '../../../common/api'
import { proxyOperations } from '../../../common/operations'
import { TaskloopError } from '../../../common/types'
import type { IpcResult, TaskloopBridge } from '../../../common/ipc'

async function unwrap<T>(pending: Promise<IpcResult<T>>): Promise<T> {
  const result = await pending
  if (result.ok) return result.value
  throw TaskloopError.from(result.error)
}

/** IPC clones arguments structurally and refuses Vue's reactive proxies: send plain JSON. */
const plain = (value: unknown): unknown =>
  typeof value === 'object' && value !== null ? (JSON.parse(JSON.stringify(value)) as unknown) : value

export function electronApi(bridge: TaskloopBridge): TaskloopApi {
  const api: TaskloopApi = {
    ...proxyOperations((name, args) => {
      const send = bridge[name] as (...a: unknown[]) => Promise<IpcResult<unknown>>
      return unwrap(send(...args.map(plain)))
    }),
    subscribe(listener) {
      // Main pushes batches as they come; the page may have loaded after main's first snapshot,
      // so ask for one. Batches older than it are dropped by their seq.
      const stop = bridge.onEvent(listener)
      let active = true
      api.snapshot().then(
        (snapshot) => active && listener(snapshot),
        (e: unknown) => console.error('taskloop: snapshot failed', e),
      )
      return () => {
        active = false
        stop()
      }
    },
    subscribeLog: (id, listener) => bridge.watchLog(id, listener),
  }
  return api
}
