// Thread executor: a pool of worker_threads for CPU-bound JS (see pool.ts for the shared logic).
import { Worker } from 'node:worker_threads'
import { THREAD_HEAP_MB } from '../../common/defaults'
import entry from './thread-worker?modulePath'
import { pipeLines } from './lines'
import { WorkerPool, type PoolOptions, type PoolWorker, type WorkerEvents } from './pool'
import type { FromWorker } from './protocol'

/**
 * Runs sent ahead to each thread: enough that a stream of tiny jobs never waits for the engine
 * between two; claims in shared memory let an idle thread take them back from a busy one.
 */
export const THREAD_DEPTH = 64

export class ThreadPool extends WorkerPool {
  readonly kind = 'thread' as const

  private readonly heapMb: number

  constructor(opts: PoolOptions & { heapMb?: number } = {}) {
    // A spare thread: a terminated one is replaced without building a Worker on the cancel's path.
    super(opts, { depth: THREAD_DEPTH, aheadMs: null, sharedClaims: true, spare: true })
    this.heapMb = opts.heapMb ?? THREAD_HEAP_MB
  }

  protected spawnWorker(events: WorkerEvents): PoolWorker {
    // stdout/stderr captured so a job's console.log lands in its task log, not the app's terminal.
    // A heap limit per thread: a job that eats memory ends its own worker (a failed task), not the app.
    const worker = new Worker(entry, { stdout: true, stderr: true, resourceLimits: { maxOldGenerationSizeMb: this.heapMb } })
    let error: string | null = null
    pipeLines(worker.stdout, (l) => events.output(l, 'stdout'))
    pipeLines(worker.stderr, (l) => events.output(l, 'stderr'))
    worker.on('message', (msgs: FromWorker[]) => events.message(msgs))
    // An uncaught exception (or an out-of-memory) in the thread: 'error', then 'exit'.
    worker.on('error', (e) => (error = e instanceof Error ? e.message : String(e)))
    worker.on('exit', (code) => events.exit(error ? `worker thread crashed: ${error}` : `worker thread exited with code ${code}`))
    return {
      label: `thread ${worker.threadId}`,
      send: (msg) => worker.postMessage(msg),
      kill: () => void worker.terminate(),
      retire: () => void worker.terminate(),
    }
  }
}
