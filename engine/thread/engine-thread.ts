// The engine thread ("loop"): hosts the Engine so the Electron main thread (or the server's)
// stays free. Entry point, started by client.ts through `?modulePath`.
import { parentPort, workerData } from 'node:worker_threads'
import { TaskloopError, type Stats } from '../../common/types'
import { watchChildren } from '../children'
import { add, COSTS_ON, threadCosts, timed } from '../costs'
import { Engine } from '../engine'
import { loopTask, watchLoopRuns } from '../executors/loop'
import { EventPacker } from './event-pack'
import { batchExtra, CALLS, type EngineThreadData, type FromEngine, type ToEngine } from './protocol'
import { SharedWriter } from './shared'

/** How often this thread's event loop proves to the host that it turns. */
const HEARTBEAT_MS = 100

const port = parentPort
if (!port) throw new Error('engine-thread.ts must run in a worker thread')
const post = (m: FromEngine) => port.postMessage(m)

const data = workerData as EngineThreadData
// The host kills these if this thread dies.
watchChildren((pid, group, alive, marker) => post({ type: 'child', pid, group, alive, ...(marker ? { marker } : {}) }))
// What the host blames if this thread blocks or dies: the loop runs, and the one whose code ran last.
const shared = new SharedWriter(data.shared)
watchLoopRuns((run, running) => (running ? shared.add(run) : shared.remove(run.taskId)))
const blame = (): void => {
  const id = loopTask.getStore()
  if (id !== undefined) post({ type: 'culprit', id })
}
process.on('uncaughtExceptionMonitor', blame)
process.on('exit', blame)
const engine = new Engine(data.options)
setInterval(() => shared.heartbeat(), HEARTBEAT_MS).unref()
const logWatches = new Map<number, () => void>()
/** Jobs' queued submits waiting for the host's answer. */
const queued = new Map<number, { resolve(v: { ids: string[] }): void; reject(e: unknown): void }>()
let nextQueued = 0

// The stream's batches; the host fetches snapshots with the snapshot call (the first one here is not needed).
let packer = new EventPacker()
engine.subscribe((event) => {
  if (event.type !== 'batch') return
  timed('engine: post events to the host', () => {
    let text: string
    try {
      text = packer.pack(event)
    } catch (e) {
      // A value JSON cannot write: the packer may have counted some of the batch's tasks as posted.
      // Both ends start over; the host's subscribers see the gap in seq and take a fresh snapshot.
      packer = new EventPacker()
      post({ type: 'batch-lost' })
      throw e
    }
    const extra = batchExtra(event)
    post(extra ? { type: 'batch', text, extra } : { type: 'batch', text })
  })
})
engine.onQuitRequested((options) => post({ type: 'quit', options }))

port.on('message', (m: ToEngine) => {
  switch (m.type) {
    case 'call': {
      if (!CALLS.includes(m.method)) {
        post({ type: 'reply', id: m.id, ok: false, error: { code: 'internal', error: `no such call: ${m.method}` } })
        return
      }
      const fn = engine[m.method] as (...args: unknown[]) => Promise<unknown>
      const t0 = COSTS_ON ? performance.now() : 0
      Promise.resolve()
        .then(() => fn.apply(engine, m.args))
        .then(
          (value) => {
            if (COSTS_ON) {
              add(`engine: ${m.method} call`, performance.now() - t0)
              if (m.method === 'stats') (value as Stats).costs = { engine: threadCosts() }
            }
            post({ type: 'reply', id: m.id, ok: true, value })
          },
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
    case 'forward-queued':
      engine.onQueuedSubmit(
        (spec) =>
          new Promise((resolve, reject) => {
            const id = ++nextQueued
            queued.set(id, { resolve, reject })
            post({ type: 'queued-submit', id, spec })
          }),
      )
      return
    case 'follow-cluster-logs':
      engine.followClusterLogs((logs) => post({ type: 'cluster-logs', logs }))
      return
    case 'queued-reply': {
      const q = queued.get(m.id)
      queued.delete(m.id)
      if (m.ok) q?.resolve(m.value)
      else q?.reject(TaskloopError.from(m.error))
      return
    }
  }
})

post({ type: 'ready' })
// The app's pools start their workers now, so the first task does not wait for one.
void engine.warm()
