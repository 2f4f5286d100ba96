// Reading /proc to prove no process survives: the real kernel view, no mocks.
import { readdirSync, readFileSync } from 'node:fs'

interface ProcStat {
  pid: number
  ppid: number
  pgrp: number
  state: string
}

export function processes(): ProcStat[] {
  const out: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.push({ pid: Number(name), state: rest[0]!, ppid: Number(rest[1]), pgrp: Number(rest[2]) })
    } catch {
      // the process ended while we looked
    }
  }
  return out
}

/** Live (non-zombie) processes in a process group. */
export const aliveInGroup = (pgid: number): number[] =>
  processes()
    .filter((p) => p.pgrp === pgid && p.state !== 'Z')
    .map((p) => p.pid)

/** Live descendants of a pid (children, grandchildren …). */
export function aliveDescendants(pid: number): number[] {
  const all = processes().filter((p) => p.state !== 'Z')
  const found: number[] = []
  let frontier = [pid]
  while (frontier.length > 0) {
    const next = all.filter((p) => frontier.includes(p.ppid)).map((p) => p.pid)
    found.push(...next)
    frontier = next
  }
  return found
}

export const pidOf = (worker: string | null): number => {
  const m = /^pid (\d+)$/.exec(worker ?? '')
  if (!m) throw new Error(`not a process worker label: ${worker}`)
  return Number(m[1])
}

/**
 * Resolves with the group's members that are still alive after up to `ms` (expected: none).
 * A SIGKILL is delivered asynchronously: a process may take a moment to die after its task settled.
 */
export async function survivorsOf(pgid: number, ms = 3000): Promise<number[]> {
  const until = Date.now() + ms
  for (;;) {
    const alive = aliveInGroup(pgid)
    if (alive.length === 0 || Date.now() > until) return alive
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * Live (non-zombie) processes whose command line holds `arg` as one of its arguments: a test puts a
 * unique argument in its commands (`sleep 300.4711`) to find them wherever they went (setsid, double fork).
 */
export function aliveWithArg(arg: string): number[] {
  const live = new Set(processes().filter((p) => p.state !== 'Z').map((p) => p.pid))
  const found: number[] = []
  for (const pid of live) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(arg)) found.push(pid)
    } catch {
      // ended while we looked
    }
  }
  return found
}

/** Resolves with the processes holding `arg` still alive after up to `ms` (expected: none). */
export async function survivorsWithArg(arg: string, ms = 5000): Promise<number[]> {
  const until = Date.now() + ms
  for (;;) {
    const alive = aliveWithArg(arg)
    if (alive.length === 0 || Date.now() > until) return alive
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A unique `sleep` argument for one test, e.g. "300.48213": its processes can be found in /proc. */
export const uniqueSleep = (): string => `300.${process.pid}${Math.floor(Math.random() * 1e6)}`

/** Kills what a failed test left behind, so one failure does not leave sleeps for the next run. */
export function killWithArg(arg: string): void {
  for (const pid of aliveWithArg(arg)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
}
