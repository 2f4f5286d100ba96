// The task store's checkpoints, off the engine thread. In WAL mode a commit only appends to the
// -wal file (synchronous=NORMAL: no fsync); a checkpoint copies the WAL into the database and
// fsyncs both. SQLite runs one inside the commit that passes 1,000 pages of WAL, so on a big
// stream of tasks the engine thread waited on the disk there. Once a store has written that much,
// a small thread of its own takes over: its own connection to the same file checkpoints
// (PASSIVE: it never blocks the engine's writes) every CHECKPOINT_MS, and the engine's connection
// keeps SQLite's own at BACKSTOP_BYTES of WAL. That one still runs now and then: SQLite starts the WAL
// over only when a write begins with every frame copied, which a steady stream of commits rarely
// allows, so the WAL grows until the engine's own checkpoint (by then it has little left to copy,
// two fsyncs every BACKSTOP_BYTES instead of every 1,000 pages).
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** How often the thread checkpoints. */
export const CHECKPOINT_MS = 200
/** The engine connection's own checkpoint once the thread runs (SQLite's default is 1,000 pages): a WAL of up to 20 MB, whatever the store's page size. */
export const BACKSTOP_BYTES = 20_000_000

const loadCjs = createRequire(import.meta.url)

// CommonJS, evaluated as the thread's code (no entry file to bundle). Its connection opens at once,
// while the file is the store's (never later, when a deleted one would be created anew). A failed
// checkpoint (the file busy, the folder gone) is tried again at the next tick; the engine's
// connection reports write errors.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.libsql)
let db = null
let checkpoint = null
try {
  db = new Database(workerData.file)
  // Prepared once: a tick with nothing to copy then costs next to nothing.
  checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
} catch {}
// Its count in shared memory, not a message: a message would wake the engine thread (a few
// hundred µs of this thread's CPU on a loaded VM, and the engine thread's wake-up) to set a figure
// only tests read.
const shared = new Int32Array(workerData.shared)
const tick = () => {
  if (checkpoint === null) return
  try {
    Atomics.store(shared, 0, Number(checkpoint.get()?.checkpointed ?? 0))
  } catch {}
}
const timer = setInterval(tick, workerData.ms)
parentPort.on('message', () => {
  clearInterval(timer)
  try { db?.close() } catch {}
  parentPort.close()
})
`

export class Checkpointer {
  private readonly worker: Worker
  /** Written by the thread: its latest checkpoint's count of frames. */
  private readonly shared = new Int32Array(new SharedArrayBuffer(4))

  constructor(file: string) {
    this.worker = new Worker(SOURCE, {
      eval: true,
      name: 'taskloop-store-checkpoint',
      workerData: { file, libsql: loadCjs.resolve('libsql'), ms: CHECKPOINT_MS, shared: this.shared.buffer },
    })
    // A thread that cannot start or dies leaves the backstop checkpoint to do the work.
    this.worker.on('error', () => {})
    // Never what keeps a process alive.
    this.worker.unref()
  }

  /** WAL frames the thread has copied into the database (its latest checkpoint's count); for tests. */
  get checkpointed(): number {
    return Atomics.load(this.shared, 0)
  }

  /** Closes the thread's connection and ends it (without waiting). */
  stop(): void {
    this.worker.postMessage('stop')
  }
}
