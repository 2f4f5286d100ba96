// Command-line parsing shared by the `taskloop` commands.
import { ON_STOP, type OnStop } from '../common/types'

/** Bad command-line usage: the CLI prints the message and the usage, and exits 2. */
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
