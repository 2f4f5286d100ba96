// Command-line parsing shared by the `taskloop` commands.

/** Bad command-line usage: the CLI prints the message in one line, pointing at --help, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError'
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
