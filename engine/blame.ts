// Tasks that blocked or crashed the engine thread, handed to the next engine start through a file
// beside the store: the supervisor cannot write the store (the engine thread owns it, and is
// blocked or dead), and the blame must outlive the process when it happens at shutdown.
// The next start fails those tasks (reason `crashed`, the message saying why) and never runs them again.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface Blame {
  id: string
  message: string
}

const FILE = 'blamed.json'

/** Adds to what the next start will read (an earlier blame not yet read is kept). */
export function addBlame(dataDir: string, blamed: Blame[]): void {
  if (blamed.length === 0) return
  const file = path.join(dataDir, FILE)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify([...readBlame(dataDir), ...blamed]))
  renameSync(tmp, file)
}

export function readBlame(dataDir: string): Blame[] {
  const file = path.join(dataDir, FILE)
  if (!existsSync(file)) return []
  try {
    const list: unknown = JSON.parse(readFileSync(file, 'utf8'))
    return Array.isArray(list) ? list.filter((b): b is Blame => typeof b?.id === 'string' && typeof b?.message === 'string') : []
  } catch {
    return []
  }
}

/** Once the store holds the verdicts. */
export function clearBlame(dataDir: string): void {
  rmSync(path.join(dataDir, FILE), { force: true })
}
