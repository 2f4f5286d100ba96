// Processes a previous run of the engine started and could not end (the app was killed with -9):
// recorded in the store with their start time, so a pid the kernel has reused is never touched.
import { readFileSync } from 'node:fs'

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22), or null if gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
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
