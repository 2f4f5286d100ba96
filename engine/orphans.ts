// Processes a task or a previous run of the engine left behind.
// - Recorded children (pool processes, command groups) with their start time: after a kill -9 the
//   next start ends them, and a pid the kernel has reused is never touched.
// - Run markers: every command's environment carries TASKLOOP_RUN=<token>, which each descendant
//   inherits even after setsid or a double fork. Scanning /proc/*/environ for the token finds the
//   whole tree at cancel, at task end and at shutdown (docs/ARCHITECTURE.md "Processes a command
//   leaves behind"). Scans cost a read per process: they run only then, never per event.
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22), or null if gone. */
export function processStartTime(pid: number): string | null {
  return processStat(pid)?.startTime ?? null
}

/** Fields of /proc/PID/stat: its process group (5) and start time (22); null if gone. */
function processStat(pid: number): { pgrp: number; startTime: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return f[19] === undefined ? null : { pgrp: Number(f[2]), startTime: f[19] }
  } catch {
    return null
  }
}

export interface RecordedChild {
  pid: number
  group: boolean
  startTime: string | null
}

/** SIGKILLs each recorded process (its whole group for commands) that is still the same process. */
export function reapOrphans(children: RecordedChild[]): number[] {
  const killed: number[] = []
  for (const c of children) {
    if (c.startTime === null || processStartTime(c.pid) !== c.startTime) continue
    try {
      process.kill(c.group ? -c.pid : c.pid, 'SIGKILL')
      killed.push(c.pid)
    } catch {
      // ended meanwhile
    }
  }
  return killed
}

/** The environment variable that marks a command's processes: space-separated tokens, outermost first. */
export const RUN_MARKER = 'TASKLOOP_RUN'
const MARKER_ENTRY = Buffer.from(`${RUN_MARKER}=`)

/**
 * The prefix of every token an engine hands out. With a data folder it is derived from the folder,
 * so the next start on the same folder finds what a killed run left; without one it is random.
 */
export function markerScope(dataDir?: string): string {
  if (dataDir === undefined) return randomBytes(6).toString('hex')
  let dir = path.resolve(dataDir)
  try {
    dir = realpathSync(dir)
  } catch {
    // not created yet: the resolved path is as good
  }
  return createHash('sha256').update(dir).digest('hex').slice(0, 12)
}

/** A fresh token for one command run: `<scope>.<task id>.<attempt>.<random>` (no spaces). */
export function markerToken(scope: string, taskId: string, attempt: number): string {
  return `${scope}.${taskId.replace(/\s/g, '_')}.${attempt}.${randomBytes(4).toString('hex')}`
}

/** The environment a command starts with: the engine's, the spec's, and its token added to any outer ones. */
export function markedEnv(env: NodeJS.ProcessEnv, token: string): NodeJS.ProcessEnv {
  const outer = env[RUN_MARKER]
  return { ...env, [RUN_MARKER]: outer ? `${outer} ${token}` : token }
}

interface Marked {
  pid: number
  pgrp: number
  startTime: string
}

/** The tokens in a process's environment block (NUL-separated KEY=value entries), or none. */
function tokensOf(environ: Buffer): string[] {
  let at = environ.indexOf(MARKER_ENTRY)
  while (at > 0 && environ[at - 1] !== 0) at = environ.indexOf(MARKER_ENTRY, at + 1)
  if (at < 0) return []
  const start = at + MARKER_ENTRY.length
  const end = environ.indexOf(0, start)
  return environ.toString('utf8', start, end < 0 ? environ.length : end).split(' ')
}

/**
 * Live processes (never this one) whose environment carries a token `wanted` accepts. A zombie's
 * environment reads empty, so zombies (which only their parent can reap) are not listed.
 */
export function findMarked(wanted: (token: string) => boolean): Marked[] {
  const found: Marked[] = []
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return found // no /proc (not Linux): process groups are all there is
  }
  for (const name of names) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    let environ: Buffer
    try {
      environ = readFileSync(`/proc/${name}/environ`)
    } catch {
      continue // gone, or another user's
    }
    if (!tokensOf(environ).some(wanted)) continue
    const stat = processStat(pid)
    if (stat !== null) found.push({ pid, ...stat })
  }
  return found
}

/** Signals each process that is still the one found (same start time: never a reused pid). */
function signalAll(procs: Marked[], signal: NodeJS.Signals): number {
  let sent = 0
  for (const p of procs) {
    if (processStartTime(p.pid) !== p.startTime) continue
    try {
      process.kill(p.pid, signal)
      sent++
    } catch {
      // ended meanwhile
    }
  }
  return sent
}

/** A process that forks between a scan and the kill leaves a child the next scan finds; three rounds end it. */
const KILL_ROUNDS = 3

/**
 * SIGKILLs every marked process `wanted` accepts, scanning again while new ones turn up. Members of
 * `killedGroups` (groups just SIGKILLed whole) are left to that kill. Returns how many it killed.
 */
export function killMarked(wanted: (token: string) => boolean, killedGroups: ReadonlySet<number> = new Set()): number {
  const seen = new Set<string>()
  let killed = 0
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const fresh = findMarked(wanted).filter((p) => !killedGroups.has(p.pgrp) && !seen.has(`${p.pid}:${p.startTime}`))
    if (fresh.length === 0) break
    for (const p of fresh) seen.add(`${p.pid}:${p.startTime}`)
    killed += signalAll(fresh, 'SIGKILL')
  }
  return killed
}

/**
 * Signals the processes of many tokens with one /proc scan: requests made while a scan is due
 * share it, so a shutdown that stops 16 commands, or a burst of commands ending, costs one or a
 * few scans instead of one each.
 */
export class MarkerSweeper {
  private queued = new Map<string, { signal: NodeJS.Signals; done: (() => void)[] }>()
  private scheduled = false

  /** SIGTERM: one scan, a request to stop. SIGKILL: scans until none is left (see killMarked). */
  signal(token: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    return new Promise((resolve) => {
      const q = this.queued.get(token)
      if (q) {
        if (signal === 'SIGKILL') q.signal = 'SIGKILL'
        q.done.push(resolve)
      } else {
        this.queued.set(token, { signal, done: [resolve] })
      }
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.sweep())
      }
    })
  }

  private sweep(): void {
    this.scheduled = false
    const batch = this.queued
    this.queued = new Map()
    const kill = new Set<string>()
    const term = new Set<string>()
    for (const [token, q] of batch) (q.signal === 'SIGKILL' ? kill : term).add(token)
    try {
      if (term.size > 0) signalAll(findMarked((t) => term.has(t)), 'SIGTERM')
      if (kill.size > 0) killMarked((t) => kill.has(t))
    } finally {
      for (const q of batch.values()) for (const done of q.done) done()
    }
  }
}
