// One Taskloop per data folder, enforced by the kernel: the owner holds an exclusive SQLite
// (fcntl) lock on taskloop.lock.db for its whole life. The kernel drops it when the process ends,
// however it ends and before its zombie is reaped, so a dead owner never blocks the folder, a
// reused pid means nothing, and two processes can never both hold it.
// taskloop.owner.json beside it only says who holds it (pid, URL), for the refusal message.
//
// fcntl locks belong to the process, and closing ANY descriptor of the file drops them all: nothing
// in a process that may hold the lock opens taskloop.lock.db except through SQLite (stat and chmod
// take a path, not a descriptor).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { assertWritable, fileId, makePrivateDir, makePrivateFile, PRIVATE_FILE, sameFile, StoreError } from './data-folder'
import type { FileId } from './data-folder'
import { openDatabase, sqliteCode } from './sqlite'
import type { Database } from './sqlite'

export const LOCK_FILE = 'taskloop.lock.db'
export const OWNER_FILE = 'taskloop.owner.json'
/** A contended lock is retried this long: two starting at once settle it between them. */
const ACQUIRE_MS = 250

/** Who holds a data folder (taskloop.owner.json). */
export interface Owner {
  pid: number
  /** `taskloop serve`, `taskloop run`, the app … */
  command: string
  /** Where the holder serves its UI, when it does. */
  url?: string
  since: string
}

export class StoreLock {
  readonly file: string
  /** The lock file as it was taken: another file at the same path is a lock lost. */
  readonly id: FileId
  private readonly ownerFile: string
  private owner: Owner

  private constructor(
    readonly dataDir: string,
    private db: Database | null,
    command: string,
  ) {
    this.file = path.join(dataDir, LOCK_FILE)
    this.id = fileId(this.file)!
    this.ownerFile = path.join(dataDir, OWNER_FILE)
    this.owner = { pid: process.pid, command, since: new Date().toISOString() }
    this.writeOwner()
  }

  /** Takes the folder (creating it, owner-only), or throws StoreError: in-use (naming the holder) or unreadable. */
  static acquire(dataDir: string, command: string): StoreLock {
    const file = path.join(dataDir, LOCK_FILE)
    try {
      makePrivateDir(dataDir)
      assertWritable(dataDir)
      assertWritable(file)
    } catch (e) {
      throw new StoreError('unreadable', `cannot use the data folder ${dataDir}: ${message(e)}`)
    }
    const deadline = Date.now() + ACQUIRE_MS
    for (;;) {
      let db: Database | null = null
      try {
        db = openDatabase(file)
        makePrivateFile(file)
        db.pragma('busy_timeout = 0')
        // No journal file; nothing is ever written but the header.
        db.pragma('journal_mode = MEMORY')
        // Taken in NORMAL mode, so a failed attempt holds nothing; EXCLUSIVE mode then keeps it
        // past the COMMIT, until release() or the process's end.
        db.exec('BEGIN EXCLUSIVE')
        db.pragma('locking_mode = EXCLUSIVE')
        db.exec('COMMIT')
        return new StoreLock(dataDir, db, command)
      } catch (e) {
        try {
          db?.close()
        } catch {
          // nothing held
        }
        const code = sqliteCode(e)
        if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') {
          throw new StoreError('unreadable', `cannot lock the data folder ${dataDir} (${file}): ${message(e)}`)
        }
        // Both may have failed at once (each holding a shared lock the other needed): retry apart.
        if (Date.now() > deadline) throw new StoreError('in-use', inUse(dataDir))
        sleepSync(5 + Math.random() * 25)
      }
    }
  }

  /** Tells a second Taskloop on this folder where this one serves its UI. */
  announce(url: string): void {
    this.owner = { ...this.owner, url }
    this.writeOwner()
  }

  /** Null while this lock is the folder's lock; else why it no longer is. */
  check(): string | null {
    return checkLock(this.dataDir, this.id)
  }

  release(): void {
    if (!this.db) return
    try {
      if ((JSON.parse(readFileSync(this.ownerFile, 'utf8')) as Owner).pid === process.pid) rmSync(this.ownerFile, { force: true })
    } catch {
      // gone, or another's by now
    }
    try {
      // libsql's close() leaves the connection to the garbage collector: let go of the lock first.
      this.db.pragma('locking_mode = NORMAL')
      this.db.prepare('SELECT count(*) FROM sqlite_master').get()
      this.db.close()
    } catch {
      // already closed
    }
    this.db = null
  }

  private writeOwner(): void {
    // Renamed into place: a reader never sees half of it.
    const tmp = `${this.ownerFile}.${process.pid}.tmp`
    try {
      writeFileSync(tmp, JSON.stringify(this.owner), { mode: PRIVATE_FILE })
      renameSync(tmp, this.ownerFile)
    } catch {
      // Only the refusal message of a second Taskloop depends on it.
    }
  }
}

/** Null while the lock file at `dataDir` is the one taken (`id`); else why it is not. */
export function checkLock(dataDir: string, id: FileId): string | null {
  return sameFile(fileId(path.join(dataDir, LOCK_FILE)), id) ? null : `the lock of the data folder ${dataDir} was removed or replaced`
}

function inUse(dataDir: string): string {
  let by = 'another Taskloop'
  try {
    const o = JSON.parse(readFileSync(path.join(dataDir, OWNER_FILE), 'utf8')) as Owner
    if (Number.isInteger(o.pid) && typeof o.command === 'string') {
      by = `another Taskloop (${o.command}, pid ${o.pid})${typeof o.url === 'string' ? ` serving ${o.url}` : ''}`
    }
  } catch {
    // it is still starting: no owner file yet
  }
  return `the data folder ${dataDir} is in use by ${by}`
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms: number): void => void Atomics.wait(sleeper, 0, 0, ms)
