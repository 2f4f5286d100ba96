// The data folder (task store, lock, logs): private to its user, and the reasons it cannot be
// used, each with its own exit code so a host can refuse to start in a way scripts can tell apart.
import { accessSync, chmodSync, constants, mkdirSync, statSync } from 'node:fs'

/** Why a data folder cannot be used. */
export type StoreProblem = 'in-use' | 'unreadable' | 'corrupt' | 'newer'

/** Exit status of `taskloop serve`/`run` and of the app when the store refuses to open (README, "Persistence"). */
export const STORE_EXIT_CODES: Record<StoreProblem, number> = {
  'in-use': 10,
  unreadable: 11,
  corrupt: 12,
  newer: 13,
}

/** The data folder cannot be used; the message is one line naming the folder and the reason. */
export class StoreError extends Error {
  override name = 'StoreError'
  constructor(
    readonly problem: StoreProblem,
    message: string,
  ) {
    super(message)
  }

  /**
   * The StoreError in `e`, also one that crossed a thread: a worker's uncaught error arrives as a
   * plain Error that kept its name and own fields.
   */
  static from(e: unknown): StoreError | null {
    if (e instanceof StoreError) return e
    const x = e as { name?: unknown; problem?: unknown; message?: unknown } | null
    if (x && x.name === 'StoreError' && typeof x.problem === 'string' && x.problem in STORE_EXIT_CODES && typeof x.message === 'string') {
      return new StoreError(x.problem as StoreProblem, x.message)
    }
    return null
  }
}

/** Files in the data folder hold specs (with their `env`) and command output: owner only. */
export const PRIVATE_FILE = 0o600
const PRIVATE_DIR = 0o700

/**
 * Creates the folder (and missing parents) owner-only. chmod as well: the umask may have narrowed
 * it, and a folder made by an earlier version is 0755.
 */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR })
  if ((statSync(dir).mode & 0o777) !== PRIVATE_DIR) chmodSync(dir, PRIVATE_DIR)
}

/** Narrows an existing file to owner-only (stores written by earlier versions were 0644). */
export function makePrivateFile(file: string): void {
  try {
    if ((statSync(file).mode & 0o777) !== PRIVATE_FILE) chmodSync(file, PRIVATE_FILE)
  } catch {
    // not there (yet): created later with PRIVATE_FILE
  }
}

/**
 * Throws when `p` exists but cannot be written (a read-only mount, a file without write permission).
 * SQLite would open it read-only without a word, and a lock on a read-only file holds nothing.
 */
export function assertWritable(p: string): void {
  try {
    accessSync(p, constants.W_OK)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

/** Identity of a file or folder: the same path with another dev/ino is another file. */
export interface FileId {
  dev: number
  ino: number
}

export function fileId(file: string): FileId | null {
  try {
    const s = statSync(file)
    return { dev: s.dev, ino: s.ino }
  } catch {
    return null
  }
}

export const sameFile = (a: FileId | null, b: FileId | null): boolean => a !== null && b !== null && a.dev === b.dev && a.ino === b.ino
