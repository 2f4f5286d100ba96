// Types for the parts of scripts/lib.mjs that TypeScript code (the tests) imports.

/** Runs a shell command with its output held back; prints it only when the command fails. */
export function quietly(command: string, cwd?: string): boolean
