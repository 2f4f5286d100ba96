// Drives an executor through the Executor interface, recording what the hooks hear.
import { readdirSync, readFileSync } from 'node:fs'
import type { LogLine, TaskSpec } from '../../../common/types'
import { TaskFailure, type Executor, type Run } from '../../../engine/executors/executor'

export interface Heard {
  worker: string | null
  progress: Array<[number | null, string | undefined]>
  logs: Array<{ line: string; stream: LogLine['stream'] }>
}

export type Outcome = { ok: true; value: unknown; ms: number } | { ok: false; error: TaskFailure; ms: number }

let nextId = 1

export function drive(executor: Executor, spec: TaskSpec, inputs: unknown[] = []): { run: Run; heard: Heard; outcome: Promise<Outcome> } {
  const heard: Heard = { worker: null, progress: [], logs: [] }
  const t0 = performance.now()
  const run = executor.start(
    { taskId: `t${nextId++}`, attempt: 1, spec, inputs },
    {
      worker: (label) => (heard.worker = label),
      progress: (f, m) => heard.progress.push([f, m]),
      log: (line, stream = 'log') => heard.logs.push({ line, stream }),
    },
  )
  const outcome = run.result.then(
    (value): Outcome => ({ ok: true, value, ms: performance.now() - t0 }),
    (error: unknown): Outcome => {
      if (!(error instanceof TaskFailure)) throw new Error(`rejected with a non-TaskFailure: ${String(error)}`)
      return { ok: false, error, ms: performance.now() - t0 }
    },
  )
  return { run, heard, outcome }
}

export async function succeeds(o: Promise<Outcome>): Promise<unknown> {
  const r = await o
  if (!r.ok) throw new Error(`expected success, got ${r.error.kind}: ${r.error.message}`)
  return r.value
}

export async function fails(o: Promise<Outcome>): Promise<TaskFailure> {
  const r = await o
  if (r.ok) throw new Error(`expected failure, got ${JSON.stringify(r.value)}`)
  return r.error
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await delay(10)
  }
}

/** Pids whose process group is `pgid`, from /proc (field 5 of /proc/PID/stat). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // after "pid (comm) "
      // fields[0] state, [1] ppid, [2] pgrp; zombies are already dead
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(d))
    } catch {
      // exited while we looked
    }
  }
  return out
}

export const pidOf = (label: string | null): number => Number(/^pid (\d+)$/.exec(label ?? '')?.[1] ?? NaN)

/** A zombie (exited, not yet reaped) counts as gone. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}
