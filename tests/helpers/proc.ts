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
