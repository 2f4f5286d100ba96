// The engine thread ("loop"): hosts the Engine so the Electron main thread (or the server's)
// stays free. Entry point, started by client.ts through `?modulePath`.
import { parentPort, workerData } from 'node:worker_threads'
import { TaskloopError } from '../../common/types'
import { watchChildren } from '../children'
import { Engine } from '../engine'
import { CALLS, type EngineThreadData, type FromEngine, type ToEngine } from './protocol'

const port = parentPort
if (!port) throw new Error('engine-thread.ts must run in a worker thread')
const post = (m: FromEngine) => port.postMessage(m)

// The host kills these if this thread dies.
watchChildren((pid, group, alive, marker) => post({ type: 'child', pid, group, alive, ...(marker ? { marker } : {}) }))
const engine = new Engine((workerData as EngineThreadData | undefined)?.options)
const logWatches = new Map<number, () => void>()

engine.subscribe((event) => post({ type: 'event', event }))
engine.onQuitRequested((options) => post({ type: 'quit', options }))

port.on('message', (m: ToEngine) => {
  switch (m.type) {
    case 'call': {
      if (!CALLS.includes(m.method)) {
        post({ type: 'reply', id: m.id, ok: false, error: { code: 'internal', error: `no such call: ${m.method}` } })
        return
      }
      const fn = engine[m.method] as (...args: unknown[]) => Promise<unknown>
      Promise.resolve()
        .then(() => fn.apply(engine, m.args))
        .then(
          (value) => post({ type: 'reply', id: m.id, ok: true, value }),
          (e: unknown) => post({ type: 'reply', id: m.id, ok: false, error: TaskloopError.from(e).toJSON() }),
        )
      return
    }
    case 'watch-log':
      try {
        logWatches.set(m.watch, engine.subscribeLog(m.id, (lines) => post({ type: 'log', watch: m.watch, lines })))
      } catch {
        // Unknown task: the watcher simply receives nothing.
      }
      return
    case 'unwatch-log':
      logWatches.get(m.watch)?.()
      logWatches.delete(m.watch)
      return
    case 'escalate':
      engine.escalate()
      return
  }
})

post({ type: 'ready' })
// The app's pools start their workers now, so the first task does not wait for one.
void engine.warm()
