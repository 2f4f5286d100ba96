// Command-line parsing shared by the `taskloop` commands.
import { SHUTDOWN_GRACE_MS } from '../common/defaults'
import { EXECUTORS, ON_STOP, type ExecutorKind, type OnStop } from '../common/types'

const MAX_SHUTDOWN_GRACE_MS = 600_000

/** Bad command-line usage: the CLI prints the message in one line, pointing at --help, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** `--on-stop keep|cancel`: what every stop does with pending tasks, whatever the signal; undefined when absent. */
export function onStopOption(value: string | undefined): OnStop | undefined {
  if (value === undefined) return undefined
  if (!(ON_STOP as readonly string[]).includes(value)) throw new UsageError(`--on-stop expects keep or cancel, got "${value}"`)
  return value as OnStop
}

/** An integer option within bounds, or undefined when absent. */
export function intOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} expects an integer from ${min} to ${max}, got "${value}"`)
  }
  return n
}

/** `--shutdown-grace-ms`, and the name it had before. */
export const SHUTDOWN_GRACE_OPTIONS = {
  'shutdown-grace-ms': { type: 'string' },
  'grace-ms': { type: 'string' },
} as const

/**
 * How long running tasks get at shutdown. `--grace-ms` is still accepted, with a notice: the new
 * name keeps it apart from a task's killGraceMs.
 */
export function shutdownGraceOption(values: { 'shutdown-grace-ms'?: string; 'grace-ms'?: string }): number {
  const old = values['grace-ms']
  if (old !== undefined) {
    if (values['shutdown-grace-ms'] !== undefined) throw new UsageError('give --shutdown-grace-ms only (--grace-ms is its old name)')
    process.stderr.write('taskloop: --grace-ms is now --shutdown-grace-ms; the old name still works for now.\n')
    return intOption(old, '--grace-ms', 0, MAX_SHUTDOWN_GRACE_MS) ?? SHUTDOWN_GRACE_MS
  }
  return intOption(values['shutdown-grace-ms'], '--shutdown-grace-ms', 0, MAX_SHUTDOWN_GRACE_MS) ?? SHUTDOWN_GRACE_MS
}

/** `--queue-allow loop,thread,process`: the executors a cluster node runs for the cluster; undefined when absent (all). */
export function queueAllowOption(value: string | undefined): ExecutorKind[] | undefined {
  if (value === undefined) return undefined
  const kinds = value.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = kinds.find((k) => !(EXECUTORS as readonly string[]).includes(k))
  if (bad !== undefined || kinds.length === 0) {
    throw new UsageError(`--queue-allow expects a comma-separated list of ${EXECUTORS.join(', ')}, got "${value}"`)
  }
  return kinds as ExecutorKind[]
}
