// Command executor: any program, in its own process group so a cancel reaches every
// descendant and none survives the task. Descendants that leave the group (setsid, a double
// fork) are found by the run marker in their environment (orphans.ts), at cancel, at the
// task's end and at close.
//
// Progress convention: a stdout line `::progress <fraction 0..1> [message]` (e.g.
// `::progress 0.42 copying files`) updates the task's progress and is not logged; any other
// line, or one whose fraction is not a number, goes to the log as is.
import { spawn, type ChildProcess } from 'node:child_process'
import { statSync } from 'node:fs'
import path from 'node:path'
import type { CommandSpec } from '../../common/types'
import { childEnded, childStarted } from '../children'
import { clampProgress } from '../../common/progress'
import { killMarked, markedEnv, markerScope, markerToken, MarkerSweeper } from '../orphans'
import { failedRun, TaskFailure, type Executor, type Run, type RunHooks, type RunRequest } from './executor'
import { pipeLines } from './lines'

export interface CommandOptions {
  /** Base folder for a spec's relative cwd. Default process.cwd(). */
  cwd?: string
  /** Prefix of the run markers (orphans.ts markerScope); default: a random one. */
  markerScope?: string
}

const PROGRESS = /^::progress\s+(\S+)(?:\s+(.*))?$/
/** After the leader exits and its group is killed, how long output may still drain. */
const DRAIN_MS = 500

export class CommandExecutor implements Executor {
  readonly kind = 'command' as const
  private readonly cwd: string
  /** Leader pids of live groups. */
  private readonly groups = new Map<number, { token: string; ended: Promise<void> }>()
  private readonly scope: string
  private readonly sweeper = new MarkerSweeper()

  constructor(opts: CommandOptions = {}) {
    this.cwd = path.resolve(opts.cwd ?? process.cwd())
    this.scope = opts.markerScope ?? markerScope()
  }

  start(request: RunRequest, hooks: RunHooks): Run {
    const spec = request.spec as CommandSpec
    if ('job' in spec) return failedRun('the command executor runs commands, not jobs')
    const argv = spec.argv ?? (spec.command !== undefined ? ['/bin/sh', '-c', spec.command] : null)
    if (!argv || argv.length === 0) return failedRun('give "command" or "argv"')
    const cwd = path.resolve(this.cwd, spec.cwd ?? '.')
    // spawn reports a missing cwd as ENOENT of the program, which would blame the wrong thing.
    try {
      if (!statSync(cwd).isDirectory()) return failedRun(`cwd is not a folder: ${cwd}`)
    } catch {
      return failedRun(`cwd not found: ${cwd}`)
    }

    let child: ChildProcess
    const token = markerToken(this.scope, request.taskId, request.attempt)
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd,
        env: markedEnv({ ...process.env, ...spec.env }, token),
        detached: true, // own process group: -pid reaches every descendant
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    } catch (e) {
      return failedRun(`cannot start ${argv[0]}: ${e instanceof Error ? e.message : String(e)}`)
    }
    const pid = child.pid
    let leaderExited = false
    /** The group, then (one shared /proc scan later) whatever left it but carries the token. */
    const killTree = (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
      if (pid === undefined) return Promise.resolve()
      try {
        process.kill(-pid, signal)
      } catch {
        // the group is already empty
      }
      return this.sweeper.signal(token, signal)
    }

    const result = new Promise<unknown>((resolve, reject) => {
      if (pid === undefined) {
        child.on('error', (e: NodeJS.ErrnoException) =>
          reject(new TaskFailure('error', e.code === 'ENOENT' ? `command not found: ${argv[0]}` : `cannot start ${argv[0]}: ${e.message}`)),
        )
        return
      }
      hooks.worker(`pid ${pid}`)
      childStarted(pid, true, token) // a supervisor outside the engine thread can end the group if this thread dies
      const ended = [child.stdout!, child.stderr!].map((s) => new Promise<void>((r) => s.once('close', r)))
      pipeLines(child.stdout!, (line) => {
        const m = PROGRESS.exec(line)
        const fraction = m ? Number(m[1]) : NaN
        if (m && Number.isFinite(fraction)) hooks.progress(clampProgress(fraction), m[2])
        else hooks.log(line, 'stdout')
      })
      pipeLines(child.stderr!, (line) => hooks.log(line, 'stderr'))
      child.on('error', () => {}) // after a successful spawn only signalling can fail; 'exit' settles
      child.once('exit', async (code, signal) => {
        leaderExited = true
        // Settle on the leader, not on the pipes: a grandchild holding stdout open must not hang
        // the task, and must not outlive it either; nor may a daemon it started (setsid).
        const swept = killTree('SIGKILL')
        const drained = Promise.all(ended)
        const timer = new Promise<void>((r) => setTimeout(r, DRAIN_MS).unref())
        await Promise.all([swept, Promise.race([drained, timer])])
        child.stdout!.destroy()
        child.stderr!.destroy()
        this.groups.delete(pid)
        childEnded(pid, true)
        if (signal) reject(new TaskFailure('exit-code', `killed by ${signal}`))
        else if (code === 0) resolve({ exitCode: 0 })
        else {
          const hint = code === 127 && spec.command !== undefined ? ' (command not found)' : ''
          reject(new TaskFailure('exit-code', `exited with code ${code}${hint}`))
        }
      })
    })
    if (pid !== undefined) this.groups.set(pid, { token, ended: result.then(() => {}, () => {}) })

    return {
      result,
      cancel: () => {
        if (!leaderExited) void killTree('SIGTERM')
      },
      kill: () => {
        if (pid === undefined) return false
        // After the leader's exit its tree was already SIGKILLed; the pgid may be reused by now.
        if (!leaderExited) void killTree('SIGKILL')
        return true
      },
    }
  }

  resize(): void {}

  workers(): number {
    return this.groups.size
  }

  async close(): Promise<void> {
    for (const [pid, { token }] of this.groups) {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // already gone
      }
      void this.sweeper.signal(token, 'SIGKILL')
    }
    await Promise.all([...this.groups.values()].map((g) => g.ended))
    // Anything of this engine's commands still marked (a fork that raced every scan) ends here.
    killMarked((t) => t.startsWith(`${this.scope}.`))
  }
}
