// Process executor: a pool of forked Node processes, for isolated JS (see pool.ts for the shared logic).
import { fork, type ChildProcess } from 'node:child_process'
import { childEnded, childStarted } from '../children'
import entry from './process-child?modulePath'
import { pipeLines } from './lines'
import { WorkerPool, type PoolOptions, type PoolWorker, type WorkerEvents } from './pool'
import { fromChild, toChild } from './process-wire'

/** After SIGTERM, how long a pool child may take before SIGKILL. */
export const TERM_GRACE_MS = 1000

/**
 * Runs sent ahead to each child, at most, so it starts the next job without a round trip and one
 * message carries many runs. No shared memory to take a run back from a busy child: a child gets
 * only about PROCESS_AHEAD_MS of work ahead, judged by its recent runs (tiny jobs: up to the
 * depth; jobs of a few ms or more: one), so a long job holds few runs behind it.
 */
export const PROCESS_DEPTH = 32
export const PROCESS_AHEAD_MS = 2

export class ProcessPool extends WorkerPool {
  readonly kind = 'process' as const

  constructor(opts: PoolOptions = {}) {
    super(opts, { depth: PROCESS_DEPTH, aheadMs: PROCESS_AHEAD_MS, sharedClaims: false, spare: false })
  }

  protected spawnWorker(events: WorkerEvents): PoolWorker {
    const child = fork(entry, [], {
      serialization: 'json', // see process-wire.ts
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A debugger flag would make every child fight for the same port.
      execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
    })
    let exited = false
    // Registered so a supervisor outside the engine thread can end it if this thread dies.
    if (child.pid !== undefined) childStarted(child.pid, false)
    pipeLines(child.stdout!, (l) => events.output(l, 'stdout'))
    pipeLines(child.stderr!, (l) => events.output(l, 'stderr'))
    child.on('message', (msgs) => events.message(fromChild(msgs)))
    child.on('error', () => {}) // a failed send to a dying child: 'exit' tells the story
    child.on('exit', (code, signal) => {
      exited = true
      if (child.pid !== undefined) childEnded(child.pid, false)
      events.exit(signal ? `worker process killed by ${signal}` : `worker process exited with code ${code}`)
    })
    const kill = (): void => {
      if (exited) return
      signalChild(child, 'SIGTERM')
      setTimeout(() => exited || signalChild(child, 'SIGKILL'), TERM_GRACE_MS).unref()
    }
    return {
      label: `pid ${child.pid}`,
      send: (msg) => {
        if (child.connected) child.send(toChild(msg))
      },
      kill,
      // Disconnecting makes an idle child exit by itself; SIGTERM backs it up.
      retire: () => {
        if (child.connected) child.disconnect()
        setTimeout(kill, TERM_GRACE_MS).unref()
      },
    }
  }
}

function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal)
  } catch {
    // already gone
  }
}
