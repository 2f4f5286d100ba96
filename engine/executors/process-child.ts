// Entry of a pool child process: runs its queued jobs one at a time through the shared protocol.
import { fromParent, toParent } from './process-wire'
import { serveJobs, type FromWorker } from './protocol'

if (!process.send) throw new Error('process-child must be started with an IPC channel (fork)')
const send = (msgs: FromWorker[]): void => void process.send?.(toParent(msgs))

// The parent went away (crash, SIGKILL): no pool child may outlive the app.
process.on('disconnect', () => process.exit(0))
if (!process.connected) process.exit(0) // it left while we were loading
// Ctrl+C in a terminal reaches the whole foreground group; the engine decides how we stop.
process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})
// Tell the pool why we die, then die: the run fails with this message, not just an exit code.
process.on('uncaughtException', (e) => {
  const msg: FromWorker = { type: 'fatal', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }
  console.error(e)
  if (process.connected) process.send?.([msg], undefined, {}, () => process.exit(1))
  setTimeout(() => process.exit(1), 1000).unref()
  if (!process.connected) process.exit(1)
})

serveJobs({ send, onMessage: (listener) => process.on('message', (msg) => listener(fromParent(msg))) }, 'process')
