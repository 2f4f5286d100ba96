// A task's progress is a fraction in 0..1, or null (indeterminate). Whatever a job or a command
// reports is brought into that range here, once, where it enters the engine.

/** null stays null; anything else becomes a number in 0..1 (not a number: 0). */
export function clampProgress(value: unknown): number | null {
  if (value === null) return null
  const f = Number(value)
  return f > 1 ? 1 : f > 0 ? f : 0
}
