// Entry of a pool worker thread: runs one job at a time through the shared protocol.
import { parentPort } from 'node:worker_threads'
import { serveJobs, type ToWorker } from './protocol'

const port = parentPort
if (!port) throw new Error('thread-worker must run inside a worker thread')

serveJobs(
  {
    send: (msg) => port.postMessage(msg),
    onMessage: (listener) => port.on('message', (msg: ToWorker) => listener(msg)),
  },
  'thread',
)
