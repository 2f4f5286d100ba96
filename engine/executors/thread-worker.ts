// Entry of a pool worker thread: runs its queued jobs one at a time through the shared protocol.
import { parentPort, receiveMessageOnPort } from 'node:worker_threads'
import { serveJobs, type ToWorker } from './protocol'

const port = parentPort
if (!port) throw new Error('thread-worker must run inside a worker thread')

serveJobs(
  {
    send: (msgs) => port.postMessage(msgs),
    onMessage: (listener) => port.on('message', (msg: ToWorker) => listener(msg)),
    poll: () => receiveMessageOnPort(port)?.message as ToWorker | undefined,
  },
  'thread',
)
