// The task store: every task's latest snapshot in SQLite (libsql, prebuilt N-API: no rebuild for
// Electron), WAL mode, written in one transaction per event batch. Submissions are written before
// they are acknowledged, so an acknowledged task survives a kill -9.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { ReturnWhen, TaskSnapshot, TaskState } from '../common/types'

// Not named `require`: the bundler declares its own in ESM chunks.
const loadCjs = createRequire(import.meta.url)

interface Statement {
  run(...args: unknown[]): unknown
  all(...args: unknown[]): Record<string, unknown>[]
  get(...args: unknown[]): Record<string, unknown> | undefined
}
interface Database {
  exec(sql: string): void
  pragma(sql: string): unknown
  prepare(sql: string): Statement
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void
  close(): void
}

/** libsql's loader can fail when two threads load it at the same instant; one retry settles it. */
function openDatabase(file: string): Database {
  let Ctor: new (file: string) => Database
  try {
    Ctor = loadCjs('libsql')
  } catch {
    Ctor = loadCjs('libsql')
  }
  return new Ctor(file)
}

/**
 * One Taskloop per data folder: two would both requeue the same pending tasks. The lock file
 * holds the owner's pid; a lock whose owner is gone (killed) is taken over.
 */
function lock(file: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    const owner = Number(readFileSync(file, 'utf8').trim())
    // Our own pid: an engine thread of this process that died without closing.
    if (owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new Error(`the data folder ${path.dirname(file)} is in use by another Taskloop (pid ${owner})`)
    }
    rmSync(file, { force: true })
  }
  throw new Error(`cannot lock ${file}`)
}

function unlock(file: string): void {
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true })
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface Retention {
  /** Keep at most this many finished tasks (newest first). */
  keepFinished?: number
  /** Drop finished tasks that ended more than this many days ago. */
  keepDays?: number
}

export interface BatchRecord {
  id: string
  name: string
  concurrency: number
  /** returnWhen "firstError"; the only setting a batch stored before returnWhen existed has. */
  failFast: boolean
  returnWhen?: ReturnWhen
  timeoutMs?: number | null
  onSettled?: 'cancel' | 'leave'
  /** When it was submitted: its timeoutMs counts from here. */
  createdAt?: number
}

const FINAL: TaskState[] = ['done', 'failed', 'cancelled']

export class TaskStore {
  readonly file: string
  /** The last write error, shown to the user; tasks keep running without the store. */
  lastError: string | null = null
  private readonly db: Database
  private readonly upsert: Statement

  private readonly lockFile: string

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true })
    this.file = path.join(dataDir, 'taskloop.db')
    this.lockFile = path.join(dataDir, 'taskloop.lock')
    lock(this.lockFile)
    try {
      this.db = openDatabase(this.file)
    } catch (e) {
      unlock(this.lockFile)
      throw e
    }
    this.db.pragma('journal_mode = WAL')
    // NORMAL: a committed transaction survives a process crash (kill -9); only an OS crash can lose the last one.
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 2000')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        ended_at INTEGER,
        data TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
      CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, ended_at);
      CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS children (pid INTEGER PRIMARY KEY, grp INTEGER NOT NULL, start_time TEXT);
    `)
    this.upsert = this.db.prepare(
      `INSERT INTO tasks (id, created_at, state, ended_at, data) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, ended_at = excluded.ended_at, data = excluded.data`,
    )
  }

  /** One transaction for the whole batch. A failure (disk full, read-only) is kept, not thrown. */
  save(tasks: TaskSnapshot[]): boolean {
    if (tasks.length === 0) return true
    try {
      this.db.exec('BEGIN')
      for (const t of tasks) this.upsert.run(t.id, t.createdAt, t.state, t.endedAt, JSON.stringify(t))
      this.db.exec('COMMIT')
      this.lastError = null
      return true
    } catch (e) {
      // SQLite may already have rolled back (disk full); the first error is the one worth telling.
      try {
        this.db.exec('ROLLBACK')
      } catch {
        // no transaction left to roll back
      }
      this.lastError = `cannot write ${this.file}: ${e instanceof Error ? e.message : String(e)}`
      return false
    }
  }

  saveBatch(batch: BatchRecord): void {
    this.write(() => this.db.prepare('INSERT OR REPLACE INTO batches (id, data) VALUES (?, ?)').run(batch.id, JSON.stringify(batch)))
  }

  /** A process the engine started, so a later run can end it if this one is killed. */
  addChild(pid: number, group: boolean, startTime: string | null): void {
    this.write(() => this.db.prepare('INSERT OR REPLACE INTO children (pid, grp, start_time) VALUES (?, ?, ?)').run(pid, group ? 1 : 0, startTime))
  }

  removeChild(pid: number): void {
    this.write(() => this.db.prepare('DELETE FROM children WHERE pid = ?').run(pid))
  }

  /** The processes a previous run left recorded; the records are cleared. */
  takeChildren(): { pid: number; group: boolean; startTime: string | null }[] {
    const rows = this.db.prepare('SELECT pid, grp, start_time FROM children').all()
    this.write(() => this.db.exec('DELETE FROM children'))
    return rows.map((r) => ({ pid: Number(r.pid), group: Number(r.grp) === 1, startTime: r.start_time === null ? null : String(r.start_time) }))
  }

  private write(fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.lastError = `cannot write ${this.file}: ${e instanceof Error ? e.message : String(e)}`
    }
  }

  /**
   * What a start needs, oldest first: every unfinished task, and the newest `keepFinished` finished
   * ones (older history stays in the store, see history()). Plus the batches.
   */
  load(keepFinished = Number.MAX_SAFE_INTEGER): { tasks: TaskSnapshot[]; batches: BatchRecord[] } {
    const marks = FINAL.map(() => '?').join(',')
    const tasks = this.db
      .prepare(
        `SELECT data FROM (
           SELECT data, created_at, rowid FROM tasks WHERE state NOT IN (${marks})
           UNION ALL
           SELECT * FROM (SELECT data, created_at, rowid FROM tasks WHERE state IN (${marks}) ORDER BY created_at DESC, rowid DESC LIMIT ?)
         ) ORDER BY created_at, rowid`,
      )
      .all(...FINAL, ...FINAL, keepFinished)
      .map((r) => JSON.parse(String(r.data)) as TaskSnapshot)
    const batches = this.db
      .prepare('SELECT data FROM batches')
      .all()
      .map((r) => JSON.parse(String(r.data)) as BatchRecord)
    return { tasks, batches }
  }

  /** A page of history, newest first (submission order): tasks submitted before the task `before`, optionally in one state. */
  history(query: { state?: TaskState; before?: string; limit: number }): TaskSnapshot[] {
    const where: string[] = []
    const args: unknown[] = []
    if (query.state) {
      where.push('state = ?')
      args.push(query.state)
    }
    if (query.before !== undefined) {
      // rowid follows submission order (rows are inserted at submit, later writes update in place).
      where.push('rowid < (SELECT rowid FROM tasks WHERE id = ?)')
      args.push(query.before)
    }
    return this.db
      .prepare(`SELECT data FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY rowid DESC LIMIT ?`)
      .all(...args, query.limit)
      .map((r) => JSON.parse(String(r.data)) as TaskSnapshot)
  }

  /** Deletes finished tasks beyond the retention; returns their ids so memory can drop them too. */
  prune(retention: Retention, now = Date.now()): string[] {
    const ids = new Set<string>()
    const marks = FINAL.map(() => '?').join(',')
    if (retention.keepDays !== undefined) {
      const cutoff = now - retention.keepDays * 86_400_000
      for (const r of this.db.prepare(`SELECT id FROM tasks WHERE state IN (${marks}) AND ended_at < ?`).all(...FINAL, cutoff)) {
        ids.add(String(r.id))
      }
    }
    if (retention.keepFinished !== undefined) {
      const rows = this.db
        .prepare(`SELECT id FROM tasks WHERE state IN (${marks}) ORDER BY ended_at DESC, rowid DESC LIMIT -1 OFFSET ?`)
        .all(...FINAL, retention.keepFinished)
      for (const r of rows) ids.add(String(r.id))
    }
    if (ids.size > 0) {
      const del = this.db.prepare('DELETE FROM tasks WHERE id = ?')
      this.db.transaction((list: string[]) => {
        for (const id of list) del.run(id)
      })([...ids])
    }
    return [...ids]
  }

  close(): void {
    try {
      this.db.close()
    } catch {
      // already closed
    }
    unlock(this.lockFile)
  }
}
