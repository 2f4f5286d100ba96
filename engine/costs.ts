// Where a served task's time goes, per phase (HTTP parse, submit, store writes, event posts, WebSocket
// fan-out …), for the bench's "end to end through serve" scenario. Off unless TASKLOOP_COSTS=1: then each
// thread sums hrtime per phase and reports it with its own CPU time in `stats().costs`. Off, a phase
// costs one boolean test.
import { readFileSync } from 'node:fs'
import type { PhaseCost, ThreadCosts } from '../common/types'

export const COSTS_ON = process.env.TASKLOOP_COSTS === '1'

const sums = new Map<string, PhaseCost>()

/** Runs `fn`, adding its wall time to `phase` when costs are on. */
export function timed<T>(phase: string, fn: () => T): T {
  if (!COSTS_ON) return fn()
  const t0 = process.hrtime.bigint()
  try {
    return fn()
  } finally {
    add(phase, Number(process.hrtime.bigint() - t0) / 1e6)
  }
}

export function add(phase: string, ms: number, calls = 1): void {
  const s = sums.get(phase)
  if (s) {
    s.ms += ms
    s.calls += calls
  } else sums.set(phase, { ms, calls })
}

/** This thread's phases, CPU time and wake-ups (Linux: /proc/thread-self; elsewhere null). */
export function threadCosts(): ThreadCosts {
  return { cpuMs: threadCpuMs(), wakeups: threadWakeups(), phases: Object.fromEntries([...sums].map(([k, v]) => [k, { ...v }])) }
}

const TICK_MS = 10 // USER_HZ is 100 on every Linux Node supports

function threadCpuMs(): number | null {
  try {
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th of them.
    const stat = readFileSync(`/proc/thread-self/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS
  } catch {
    return null
  }
}

/**
 * How many times this thread went to sleep waiting for something (its voluntary context switches):
 * each is a wake-up later, which costs the thread CPU of its own (the kernel, libuv, cold caches)
 * beyond the work it was woken for.
 */
function threadWakeups(): number | null {
  try {
    const m = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}
