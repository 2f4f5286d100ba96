// TaskloopApi over the preload bridge (`window.taskloop`): unwraps IpcResult envelopes into
// values and TaskloopErrors.
import type { TaskloopApi } from '../../../common/api'
import type { IpcResult } from '../../../common/ipc'
import { TaskloopError } from '../../../common/types'
import type { TaskloopBridge } from '../../../preload/bridge'

async function unwrap<T>(pending: Promise<IpcResult<T>>): Promise<T> {
  const result = await pending
  if (result.ok) return result.value
  throw TaskloopError.from(result.error)
}

/** IPC clones arguments structurally and refuses Vue's reactive proxies: send plain JSON. */
const plain = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T))

export function electronApi(bridge: TaskloopBridge): TaskloopApi {
  const api: TaskloopApi = {
    submit: (spec) => unwrap(bridge.submit(plain(spec))),
    list: (query) => unwrap(bridge.list(plain(query))),
    history: (query) => unwrap(bridge.history(plain(query))),
    get: (id) => unwrap(bridge.get(id)),
    cancel: (id) => unwrap(bridge.cancel(id)),
    retry: (id) => unwrap(bridge.retry(id)),
    cancelAll: () => unwrap(bridge.cancelAll()),
    stats: () => unwrap(bridge.stats()),
    setLimits: (limits) => unwrap(bridge.setLimits(plain(limits))),
    snapshot: () => unwrap(bridge.snapshot()),
    batch: (id) => unwrap(bridge.batch(id)),
    pause: () => unwrap(bridge.pause()),
    resume: () => unwrap(bridge.resume()),
    setGroupLimit: (group, limit) => unwrap(bridge.setGroupLimit(group, limit)),
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
    quit: (options) => unwrap(bridge.quit(options)),
  }
  return api
}
