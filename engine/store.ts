// The task store: every task's latest snapshot in SQLite (libsql), WAL mode, written in one
// transaction per event batch: its row at submit, its claim as a line of a claims row, its end as
// a row of ends with what the run changed (MIGRATIONS, step 4). Submissions are written before they are acknowledged, so an
// acknowledged task survives a kill -9. A store that cannot be opened stops the start (StoreError);
// one pulled away while running (folder deleted, lock lost) stops the writes and the submissions.
import { renameSync } from 'node:fs'
import path from 'node:path'
import { currentAttempt, EXECUTORS, isFinal, SNAPSHOT_DEFAULTS, TASK_STATES, TaskloopError } from '../common/types'
import { attemptsForm, OWN_ATTEMPT } from '../common/wire'
import type { ReturnWhen, TaskSnapshot, TaskState } from '../common/types'
import { assertWritable, fileId, makePrivateFile, sameFile, StoreError } from './data-folder'
import type { FileId } from './data-folder'
import { timed } from './costs'
import { openDatabase, sqliteCode } from './sqlite'
import type { Database, Statement } from './sqlite'
import { checkLock, StoreLock } from './store-lock'
import { BACKSTOP_BYTES, Checkpointer } from './store-checkpoint'

export const DB_FILE = 'taskloop.db'

/**
 * The schema, one step per version (PRAGMA user_version). Stores written before versions were
 * recorded are at 0 with the tables of step 1 already there: IF NOT EXISTS makes that step a no-op.
 */
const MIGRATIONS: string[] = [
  // → 1
  `CREATE TABLE IF NOT EXISTS tasks (
     id TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL,
     state TEXT NOT NULL,
     ended_at INTEGER,
     data TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
   CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, ended_at);
   CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, data TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS children (pid INTEGER PRIMARY KEY, grp INTEGER NOT NULL, start_time TEXT);`,
  // → 2: rows recovery cannot read are moved here, kept for a look, never run.
  `CREATE TABLE IF NOT EXISTS broken_tasks (id TEXT PRIMARY KEY, data, error TEXT NOT NULL, set_aside_at INTEGER NOT NULL);`,
  // → 3: a row's data leaves out the fields at their defaults (rowData): a Taskloop that does not put
  // them back (readTask) must refuse the store rather than misread it. And fewer index writes per
  // task: tasks_state (state, ended_at) changed at submit, claim and end, tasks_created at submit;
  // the one left is written once, when a task ends (a claim writes no index). Start-up reads the
  // newest finished rows by rowid (submission order, as history pages do), retention by end time.
  `DROP INDEX IF EXISTS tasks_state;
   DROP INDEX IF EXISTS tasks_created;
   CREATE INDEX IF NOT EXISTS tasks_ended ON tasks (ended_at) WHERE ended_at IS NOT NULL;`,
  // → 4: fewer bytes and pages per task. A task's row in tasks is written once, at submit; its claim
  // is a line of a claims row (one row per claim write, dropped once its tasks are written again);
  // its end is a row of ends holding only what a run changes (endData), keyed by id. A row of
  // tasks whose task ended before this step (or before its submit's row was written) keeps its
  // final state in tasks, as before: a task is its tasks row, overlaid by its ends row if any. A
  // tasks row written again (a cluster retry takes an ended task's id over) drops its old end.
  `CREATE TABLE IF NOT EXISTS ends (id TEXT PRIMARY KEY, state TEXT NOT NULL, ended_at INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS ends_ended ON ends (ended_at);
   CREATE TABLE IF NOT EXISTS claims (at INTEGER PRIMARY KEY, tasks TEXT NOT NULL);
   CREATE TRIGGER IF NOT EXISTS tasks_rewritten AFTER UPDATE OF data ON tasks BEGIN DELETE FROM ends WHERE id = NEW.id; END;`,
]
/** Each task's row as stored: its tasks row overlaid by its ends row (end_data), `seq` its submission order. */
const ROWS = `SELECT t.rowid AS seq, t.id AS id, t.created_at AS created_at, coalesce(e.state, t.state) AS state,
  coalesce(e.ended_at, t.ended_at) AS ended_at, t.data AS data, e.data AS end_data
  FROM tasks t LEFT JOIN ends e ON e.id = t.id`
export const SCHEMA_VERSION = MIGRATIONS.length

export interface OpenOptions {
  /** Finished tasks to load (the newest); unfinished ones are always loaded. */
  keepFinished?: number
  /** The lock the host process holds on the folder (engine/store-lock.ts); without it the store takes the lock itself. */
  heldLock?: FileId
  /** Named to a second Taskloop that finds the folder in use (when the store takes the lock itself). */
  owner?: string
  /** A corrupt or newer store is moved aside as taskloop.db.broken-<time> and a new one started. */
  resetStore?: boolean
}

export interface Opened {
  store: TaskStore
  /** What a start needs, oldest first: every unfinished task and the newest finished ones; the batches. */
  saved: { tasks: TaskSnapshot[]; batches: BatchRecord[] }
  /** Said to the user at start: a store moved aside, rows set aside. */
  notes: string[]
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

/**
 * Every field of a snapshot, in the order Task.snapshot() makes them: `static` when a task's run never
 * changes it (written once, at submit; an ends row leaves it out), else `run`. A field added to
 * TaskSnapshot fails the typecheck here until it is listed, and rowData must then write it.
 */
const ROW_FIELDS = {
  id: 'static', name: 'static', executor: 'static', state: 'run', reason: 'run', waiting: 'run', attempt: 'run',
  progress: 'run', progressMessage: 'run', worker: 'run', group: 'static', batchId: 'static', after: 'static',
  createdAt: 'static', startedAt: 'run', endedAt: 'run', cancelRequestedAt: 'run', ignoredCancel: 'run', result: 'run',
  error: 'run', attempts: 'run', spec: 'static', parent: 'static', retryOf: 'run', queue: 'run', node: 'run',
} as const satisfies Record<keyof TaskSnapshot, 'static' | 'run'>
/** The snapshot fields a task's run never changes: written once, at submit; an ends row leaves them out. */
const STATIC = new Set<string>(Object.keys(ROW_FIELDS).filter((k) => ROW_FIELDS[k as keyof TaskSnapshot] === 'static'))
for (const [k, d] of Object.entries(SNAPSHOT_DEFAULTS)) {
  // rowData leaves a field out at its default by these three tests alone.
  if (d !== null && d !== false && !(Array.isArray(d) && d.length === 0)) throw new Error(`store: no rule to leave out the default of ${k}`)
}

const json = JSON.stringify
/** Each field's `,"key":`, made once. */
const KEY = Object.fromEntries(Object.keys(ROW_FIELDS).map((k) => [k, `,"${k}":`])) as Record<keyof TaskSnapshot, string>
/**
 * A value's JSON text: a finite number by its own text (what JSON.stringify writes for it, without
 * the call: times, attempts and progress are most of a row's fields), anything else by JSON.stringify.
 */
const text = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${v}` : json(v))
/**
 * The pieces of the row being written (rowData): keys and value texts, joined once at the end. A
 * chain of `+` made a string per piece and per join (~1.7 KB of garbage per task, the engine
 * thread's largest allocation) and a flat copy when SQLite read it; join makes the row in one.
 */
const parts: string[] = []
/** `,"key":value`, or nothing for undefined (as JSON.stringify leaves such a field out). */
function put(key: string, v: unknown): void {
  if (v !== undefined) parts.push(key, text(v))
}
/** The same for a field whose default is null (SNAPSHOT_DEFAULTS): left out at null too. */
function putSet(key: string, v: unknown): void {
  if (v !== undefined && v !== null) parts.push(key, text(v))
}
/**
 * The JSON text of strings that repeat from row to row (states, executors, waits, workers, batch
 * ids, queues), made once each (at most WORDS of them, then made again): a lookup, not a JSON.stringify.
 */
const words = new Map<string, string>()
const WORDS = 1024
function word(v: string): string {
  let t = words.get(v)
  if (t === undefined) {
    if (words.size >= WORDS) words.clear()
    words.set(v, (t = json(v)))
  }
  return t
}
/** putSet for a field of such strings. */
function putWord(key: string, v: unknown): void {
  if (v !== undefined && v !== null) parts.push(key, typeof v === 'string' ? word(v) : json(v))
}
/** Each field's `{"key":`, for the first piece of a row (KEY without its comma). */
const OPEN = new Map(Object.values(KEY).map((k) => [k, `{${k.slice(1)}`]))

/**
 * A task's row data: its snapshot without the fields at their defaults (SNAPSHOT_DEFAULTS), a
 * third fewer bytes per row, so fewer pages for SQLite to write; and `attempts` as OWN_ATTEMPT
 * when it lists only the current attempt as the task's own fields say (common/wire.ts: nearly
 * every finished task), half an end's bytes. With a `state`, the whole row in that state; with
 * null, an ends row: the fields a run changes (not STATIC). readTask puts the rest back.
 * Written field by field (ROW_FIELDS, in the snapshot's order), not as JSON.stringify of an object
 * copied without its defaults: a third of the CPU, the same text.
 */
function rowData(t: RowSource, state: TaskState | null): string {
  parts.length = 0
  const whole = state !== null
  if (whole) {
    put(KEY.id, t.id)
    put(KEY.name, t.name)
    putWord(KEY.executor, t.executor)
  }
  putWord(KEY.state, state ?? t.state)
  putWord(KEY.reason, t.reason)
  putWord(KEY.waiting, t.waiting)
  put(KEY.attempt, t.attempt)
  putSet(KEY.progress, t.progress)
  putSet(KEY.progressMessage, t.progressMessage)
  putWord(KEY.worker, t.worker)
  if (whole) {
    putWord(KEY.group, t.group)
    putWord(KEY.batchId, t.batchId)
    if (!(Array.isArray(t.after) && t.after.length === 0)) put(KEY.after, t.after)
    put(KEY.createdAt, t.createdAt)
  }
  putSet(KEY.startedAt, t.startedAt)
  putSet(KEY.endedAt, t.endedAt)
  putSet(KEY.cancelRequestedAt, t.cancelRequestedAt)
  if (t.ignoredCancel !== false) put(KEY.ignoredCancel, t.ignoredCancel)
  putSet(KEY.result, t.result)
  putSet(KEY.error, t.error)
  const attempts = t.attempts
  if (!(Array.isArray(attempts) && attempts.length === 0)) put(KEY.attempts, attempts !== undefined && attemptsForm(t) === OWN_ATTEMPT ? OWN_ATTEMPT : attempts)
  if (whole) {
    put(KEY.spec, t.spec)
    put(KEY.parent, t.parent)
  }
  // As Task.snapshot() gives them: retryOf when set; node (null too) beside a queue.
  putSet(KEY.retryOf, t.retryOf)
  if (t.queue !== undefined && t.queue !== null) {
    putWord(KEY.queue, t.queue)
    if (t.node === undefined || t.node === null) parts.push(KEY.node, 'null')
    else putWord(KEY.node, t.node)
  }
  if (parts.length === 0) return '{}'
  parts[0] = OPEN.get(parts[0]!)!
  parts.push('}')
  const row = parts.join('')
  parts.length = 0
  return row
}
/**
 * Rows per statement, largest first: a write of n rows runs the fewest statements these sizes make
 * (80 rows: one of 64, one of 16). 64 rows at once cost about a fifth less CPU than 64 statements
 * (fewer calls into libsql, fewer parameters bound one by one).
 */
const STATEMENT_ROWS = [64, 16, 4, 1] as const
/** One prepared statement per size of STATEMENT_ROWS, made when first needed. */
type Chunked = { statements: (Statement | null)[]; prepare(rows: number): Statement }
const chunked = (prepare: (rows: number) => Statement): Chunked => ({ statements: STATEMENT_ROWS.map(() => null), prepare })

/** Runs `values` (`width` per row) through the fewest statements of STATEMENT_ROWS rows. */
function runInChunks(c: Chunked, values: unknown[], width: number): void {
  let at = 0
  for (let s = 0; s < STATEMENT_ROWS.length; s++) {
    const size = STATEMENT_ROWS[s]! * width
    if (values.length - at < size) continue
    const statement = (c.statements[s] ??= c.prepare(STATEMENT_ROWS[s]!))
    // One array, not spread: libsql copies spread parameters once more (Statement.run's flat()).
    for (; values.length - at >= size; at += size) statement.run(at === 0 && size === values.length ? values : values.slice(at, at + size))
  }
}
/**
 * A submission of more tasks than this is written this many at a time, one transaction per turn of
 * the event loop, so its first tasks run while the rest are written (about 10 ms of writing each).
 */
export const SUBMIT_CHUNK = 1000
/** Rows written past which the store's checkpoints move to a thread of their own (engine/store-checkpoint.ts): a few MB of WAL. */
export const CHECKPOINT_THREAD_AFTER_ROWS = 5000

/**
 * What a row is written from: a task's snapshot, or the Task itself (engine/task.ts reads as its
 * snapshot does, field by field), so a submit or a claim makes no snapshot just to write its row.
 * Read when its row is written, not before.
 */
export type RowSource = Readonly<TaskSnapshot>

export class TaskStore {
  readonly file: string
  /** The last write error, shown to the user; tasks keep running without the store. */
  lastError: string | null = null
  /** Why the store is gone (its folder deleted or replaced, its lock lost): nothing is written any more. */
  lost: string | null = null
  /** Upserts of a task's row, by how many rows one statement writes (STATEMENT_ROWS). */
  private readonly upserts: Chunked
  /** Ends of tasks whose submit's row is written (the ends table), by how many rows one statement writes. */
  private readonly ends: Chunked
  /**
   * Claims written as a claims row (a task whose submit's row is written): the claims row each
   * one is in, until the task's row is written again (its end, a requeue); and how many tasks of
   * each claims row are still there. A claims row none of whose tasks is left is deleted by the
   * next write (`folded`).
   */
  private readonly claimOf = new Map<string, number>()
  private readonly claimsLeft = new Map<number, number>()
  private folded: number[] = []
  /** The key of the next claims row. */
  private nextClaim = 1
  private claimInsert: Statement | null = null
  private claimDelete: Statement | null = null
  /**
   * What the stored row of each unfinished task says, as `attempt * 2 + (running ? 1 : 0)` (a claim
   * not written yet: `-attempt`): a snapshot that would only repeat it is not written again. A
   * positive code also says the task's row is in tasks, so its end can be a row of ends. A pending task's row is written at
   * submit, and while it waits only its `waiting` hint changes (recomputed when it is queued again
   * after a restart). A claimed task (markStarted) is still pending in memory while a pool holds
   * it ahead of its worker: its row says running, and a later batch must not store it as pending
   * again, or a crash would run it twice.
   */
  private readonly stored = new Map<string, number>()
  /** Tasks of a submission being written in turns (saveNew) whose chunk has not come yet. */
  private readonly unwritten = new Set<string>()
  private closed = false
  /** Rows written since the store was opened, until the checkpoint thread starts. */
  private rowsWritten = 0
  /** The checkpoints' own thread, once this store has written CHECKPOINT_THREAD_AFTER_ROWS rows. */
  checkpointer: Checkpointer | null = null
  /** The folder and the database file as opened: another file at the same path means ours is gone. */
  private readonly dirId: FileId
  private readonly dbId: FileId

  private constructor(
    readonly dataDir: string,
    private readonly db: Database,
    /** Taken by the store itself (in-process engine); null when the host holds it. */
    private readonly lock: StoreLock | null,
    private readonly lockId: FileId,
  ) {
    this.file = path.join(dataDir, DB_FILE)
    this.dirId = fileId(dataDir)!
    this.dbId = fileId(this.file)!
    const upsert = (rows: number) =>
      this.db.prepare(
        `INSERT INTO tasks (id, created_at, state, ended_at, data) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?)').join(', ')}
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, ended_at = excluded.ended_at, data = excluded.data`,
      )
    this.upserts = chunked(upsert)
    this.ends = chunked((rows) =>
      this.db.prepare(`INSERT OR REPLACE INTO ends (id, state, ended_at, data) VALUES ${Array(rows).fill('(?, ?, ?, ?)').join(', ')}`),
    )
  }

  /**
   * Opens the store of a data folder (taking its lock unless the host holds it), migrates an older
   * schema, loads what a start needs and sets unreadable rows aside. Throws StoreError: in-use,
   * unreadable, corrupt or newer; with `resetStore`, a corrupt or newer store is moved aside instead.
   */
  static open(dataDir: string, options: OpenOptions = {}): Opened {
    const lock = options.heldLock ? null : StoreLock.acquire(dataDir, options.owner ?? 'Taskloop')
    try {
      const lockId = options.heldLock ?? lock!.id
      // The host took the lock before this engine thread started: the folder must still be that one.
      const lost = checkLock(dataDir, lockId)
      if (lost) throw new StoreError('unreadable', lost)
      return TaskStore.openLocked(dataDir, lock, lockId, options)
    } catch (e) {
      lock?.release()
      throw e
    }
  }

  private static openLocked(dataDir: string, lock: StoreLock | null, lockId: FileId, options: OpenOptions): Opened {
    const file = path.join(dataDir, DB_FILE)
    let db: Database | null = null
    try {
      try {
        assertWritable(file)
      } catch (e) {
        throw new StoreError('unreadable', `cannot write the task store ${file}: ${e instanceof Error ? e.message : String(e)}`)
      }
      db = openDatabase(file)
      // Before the WAL pragma: SQLite gives -wal and -shm the database file's mode.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) makePrivateFile(f)
      db.pragma('busy_timeout = 2000')
      const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0)
      if (version > SCHEMA_VERSION) {
        throw new StoreError(
          'newer',
          `the task store ${file} was written by a newer Taskloop (schema version ${version}; this one knows up to ${SCHEMA_VERSION}); run that version, or move the store aside with --reset-store`,
        )
      }
      // Pages of 8 KB for a new store (SQLite's default is 4 KB; an existing store, or one already in
      // WAL mode, keeps its size: the pragma is then a no-op). Chosen when a claim and an end
      // rewrote a task's row in place (with twice the rows per page, a batch's rows touched half the
      // pages). Now that they append rows of their own (claims, ends), 4 KB and 2 KB pages measured
      // the same within the noise (bench/store-writes.ts).
      if (version === 0) db.pragma('page_size = 8192')
      db.pragma('journal_mode = WAL')
      // NORMAL: a committed transaction survives a process crash (kill -9); only an OS crash can lose the last one.
      db.pragma('synchronous = NORMAL')
      migrate(db, version)
      const store = new TaskStore(dataDir, db, lock, lockId)
      const { saved, notes } = store.load(options.keepFinished)
      return { store, saved, notes }
    } catch (e) {
      try {
        db?.close()
      } catch {
        // not open
      }
      const refusal = e instanceof StoreError ? e : openError(e, file)
      if (!options.resetStore || (refusal.problem !== 'corrupt' && refusal.problem !== 'newer')) throw refusal
      const aside = moveAside(file)
      const opened = TaskStore.openLocked(dataDir, lock, lockId, { ...options, resetStore: false })
      const why = refusal.problem === 'corrupt' ? 'was corrupt' : 'was written by a newer Taskloop'
      opened.notes.unshift(`The task store ${file} ${why}: it was moved aside as ${aside} and a new one started.`)
      return opened
    }
  }

  /**
   * Null while the folder, the database and the lock are the ones opened; else why not, and from
   * then on nothing is written (the engine refuses new tasks). Cheap: three stat calls.
   */
  check(): string | null {
    if (this.lost) return this.lost
    const reason = !sameFile(fileId(this.dataDir), this.dirId)
      ? `the data folder ${this.dataDir} was deleted or replaced`
      : !sameFile(fileId(this.file), this.dbId)
        ? `the task store ${this.file} was deleted or replaced`
        : checkLock(this.dataDir, this.lockId)
    if (reason) {
      this.lost = reason
      this.lastError = `${reason} while Taskloop was running: tasks are no longer saved and new ones are refused; restart Taskloop`
    }
    return reason
  }

  /**
   * New tasks, just handed to the scheduler: resolves once every row is written (then the
   * submission may be acknowledged). Past SUBMIT_CHUNK tasks they are written in chunks, one per
   * turn, so the first ones can be claimed meanwhile: a claim writes its task's row itself
   * (markStarted) before the job starts, whether its chunk came yet or not. Each row is the task's
   * snapshot when its chunk is written. A task claimed in the same turn already has its row (the
   * claim inserted it as running). Rejects (shutting-down) if the store closes before the last chunk.
   */
  async saveNew(all: readonly RowSource[]): Promise<void> {
    const tasks = all.filter((t) => !this.stored.has(t.id))
    if (tasks.length <= SUBMIT_CHUNK) {
      this.save(tasks)
      return
    }
    for (const t of tasks) this.unwritten.add(t.id)
    // The first task whose chunk has not come yet: from there on, left unwritten if this stops.
    let next = 0
    try {
      for (let i = 0; i < tasks.length; i += SUBMIT_CHUNK) {
        if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve))
        if (this.closed) throw new TaskloopError('shutting-down', 'Taskloop is shutting down: the submission was not stored whole and is not acknowledged')
        const chunk = tasks.slice(i, i + SUBMIT_CHUNK)
        for (const t of chunk) this.unwritten.delete(t.id)
        next = i + chunk.length
        this.save(chunk)
      }
    } finally {
      for (let i = next; i < tasks.length; i++) this.unwritten.delete(tasks[i]!.id)
    }
  }

  /** One transaction for the whole batch. A failure (disk full, read-only) is kept, not thrown. */
  save(tasks: readonly RowSource[]): boolean {
    return timed('engine: store writes', () => this.saveRows(tasks))
  }

  private saveRows(tasks: readonly RowSource[], claim = false): boolean {
    if (this.lost) return false
    // Upsert values, 5 per row; ends values, 4 per row; ids and attempts claimed by a claims row;
    // and what each written task's stored row says once committed, as id, code pairs (null: final,
    // no longer followed).
    const rows: unknown[] = []
    const ends: unknown[] = []
    const claimed: (string | number)[] = []
    const written: (string | number | null)[] = []
    try {
      for (const t of tasks) {
        const row = this.stored.get(t.id)
        const pending = t.state === 'pending'
        const mark = t.attempt * 2
        if (pending && !claim) {
          if (row === mark || row === mark + 1) continue
          // Written by its submission's next chunk (saveNew), in a turn or two.
          if (row === undefined && this.unwritten.size > 0 && this.unwritten.has(t.id)) continue
        }
        if (claim && pending && row === mark) {
          claimed.push(t.id, t.attempt)
          written.push(t.id, mark + 1)
          continue
        }
        // The end of a task whose submit's row is written (a positive code: its write committed):
        // what the run changed, as a row of its own.
        if (row !== undefined && row > 0 && isFinal(t.state)) {
          ends.push(t.id, t.state, t.endedAt ?? 0, rowData(t, null))
          written.push(t.id, null)
          continue
        }
        // A claim whose own write failed is written as running by the next batch that can.
        const asRunning = pending && (claim || row === -t.attempt)
        const state = asRunning ? 'running' : t.state
        rows.push(t.id, t.createdAt, state, t.endedAt, rowData(t, state))
        written.push(t.id, isFinal(t.state) ? null : mark + (pending && !asRunning ? 0 : 1))
      }
      // Nothing new (a batch of tasks only waiting): no transaction at all.
      if (written.length === 0) return true
      const at = this.nextClaim
      this.db.exec('BEGIN')
      runInChunks(this.upserts, rows, 5)
      runInChunks(this.ends, ends, 4)
      if (claimed.length > 0) (this.claimInsert ??= this.db.prepare('INSERT INTO claims (at, tasks) VALUES (?, ?)')).run(at, JSON.stringify(claimed))
      const folded = this.folded
      if (folded.length > 0) {
        const del = (this.claimDelete ??= this.db.prepare('DELETE FROM claims WHERE at = ?'))
        for (const row of folded) del.run(row)
      }
      this.db.exec('COMMIT')
      // Only what was committed: after a failed write the next batch tries again.
      if (folded.length > 0) this.folded = []
      if (claimed.length > 0) {
        this.nextClaim++
        this.claimsLeft.set(at, claimed.length / 2)
      }
      for (let i = 0; i < written.length; i += 2) {
        const id = written[i] as string
        const code = written[i + 1] as number | null
        // A task written again no longer needs its claims row (its own row says more).
        const claimRow = this.claimOf.size > 0 ? this.claimOf.get(id) : undefined
        if (claimRow !== undefined) this.unclaim(id, claimRow)
        if (code === null) this.stored.delete(id)
        else this.stored.set(id, code)
      }
      for (let i = 0; i < claimed.length; i += 2) this.claimOf.set(claimed[i] as string, at)
      this.lastError = null
      if (this.checkpointer === null && (this.rowsWritten += written.length / 2) > CHECKPOINT_THREAD_AFTER_ROWS) this.startCheckpointer()
      return true
    } catch (e) {
      // SQLite may already have rolled back (disk full); the first error is the one worth telling.
      try {
        this.db.exec('ROLLBACK')
      } catch {
        // no transaction left to roll back
      }
      if (claim) for (const t of tasks) this.stored.set(t.id, -t.attempt)
      this.lastError = `cannot write ${this.file}: ${e instanceof Error ? e.message : String(e)}`
      // A write error may mean the folder is gone: then say that instead.
      this.check()
      return false
    }
  }

  /** One task of a claims row written again: the row is deleted by the next write once none is left. */
  private unclaim(id: string, claimRow: number): void {
    this.claimOf.delete(id)
    const left = this.claimsLeft.get(claimRow)! - 1
    if (left > 0) {
      this.claimsLeft.set(claimRow, left)
    } else {
      this.claimsLeft.delete(claimRow)
      this.folded.push(claimRow)
    }
  }

  private startCheckpointer(): void {
    try {
      this.checkpointer = new Checkpointer(this.file)
      const pageSize = Number(this.db.prepare('PRAGMA page_size').get()?.page_size) || 4096
      this.db.pragma(`wal_autocheckpoint = ${Math.round(BACKSTOP_BYTES / pageSize)}`)
    } catch {
      // No thread (none is tried again): SQLite's own checkpoints go on as they were.
      this.checkpointer?.stop()
      this.checkpointer = null
      this.rowsWritten = Number.NEGATIVE_INFINITY
    }
  }

  /**
   * Stores tasks about to be handed to their executors as running, in one transaction, before
   * any of their jobs starts: on the next start they are interrupted (or requeued as a new
   * attempt), never silently run a second time.
   */
  markStarted(tasks: readonly RowSource[]): boolean {
    return timed('engine: store writes (claims)', () => this.saveRows(tasks, true))
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
    if (this.lost) return
    try {
      fn()
    } catch (e) {
      this.lastError = `cannot write ${this.file}: ${e instanceof Error ? e.message : String(e)}`
    }
  }

  /**
   * What a start needs, oldest first: every unfinished task, and the newest `keepFinished` finished
   * ones (older history stays in the store, see history()). Plus the batches. A row that does not
   * read as a task is moved to broken_tasks (never run) and named in a note: it does not stop the rest.
   */
  private load(keepFinished = Number.MAX_SAFE_INTEGER): { saved: Opened['saved']; notes: string[] } {
    this.foldClaims()
    const marks = FINAL.map(() => '?').join(',')
    const rows = this.db
      .prepare(
        `SELECT id, state, data, end_data FROM (
           SELECT * FROM (${ROWS}) WHERE state NOT IN (${marks})
           UNION ALL
           SELECT * FROM (SELECT * FROM (${ROWS}) WHERE state IN (${marks}) ORDER BY seq DESC LIMIT ?)
         ) ORDER BY created_at, seq`,
      )
      .all(...FINAL, ...FINAL, keepFinished)
    const tasks: TaskSnapshot[] = []
    const broken: { id: string; error: string }[] = []
    for (const r of rows) {
      const read = readTask(r)
      if (typeof read === 'string') broken.push({ id: String(r.id), error: read })
      else tasks.push(read)
    }
    const batches: BatchRecord[] = []
    for (const r of this.db.prepare('SELECT data FROM batches').all()) {
      // A batch that does not read only loses its name and limits: its tasks still run.
      const b = parseJson(r.data) as BatchRecord | undefined
      if (b && typeof b.id === 'string') batches.push(b)
    }
    const notes: string[] = []
    if (broken.length > 0) {
      this.setAside(broken)
      const shown = broken.slice(0, 10).map((b) => b.id)
      notes.push(
        `${broken.length} task${broken.length === 1 ? '' : 's'} in ${this.file} could not be read and ${broken.length === 1 ? 'was' : 'were'} set aside, not run: ` +
          `${shown.join(', ')}${broken.length > shown.length ? ` and ${broken.length - shown.length} more` : ''} (kept in its broken_tasks table).`,
      )
    }
    return { saved: { tasks, batches }, notes }
  }

  /**
   * The claims rows a previous run left, written into the rows they claim (a running state
   * column over a pending row: readTask) and deleted, in one transaction: from then on a
   * task's row says all (recovery interrupts or requeues it). A claim of an attempt the row has
   * left behind (the task went back to pending and was not claimed again) claims nothing.
   */
  private foldClaims(): void {
    const rows = this.db.prepare('SELECT tasks FROM claims').all()
    if (rows.length === 0) return
    const mark = this.db.prepare(
      `UPDATE tasks SET state = 'running' WHERE id = ? AND state = 'pending' AND json_extract(data, '$.attempt') = ?`,
    )
    this.db.transaction(() => {
      for (const r of rows) {
        const list = parseJson(r.tasks)
        if (!Array.isArray(list)) continue
        for (let i = 0; i + 1 < list.length; i += 2) mark.run(String(list[i]), Number(list[i + 1]))
      }
      this.db.exec('DELETE FROM claims')
    })()
  }

  /** Moves rows out of the tasks and ends tables in one transaction, with why they could not be read (an end kept on its own line). */
  private setAside(broken: { id: string; error: string }[]): void {
    const move = this.db.prepare(
      `INSERT OR REPLACE INTO broken_tasks (id, data, error, set_aside_at)
       SELECT id, CASE WHEN end_data IS NULL THEN data ELSE data || char(10) || end_data END, ?, ? FROM (${ROWS}) WHERE id = ?`,
    )
    const del = this.db.prepare('DELETE FROM tasks WHERE id = ?')
    const delEnd = this.db.prepare('DELETE FROM ends WHERE id = ?')
    const now = Date.now()
    this.write(() =>
      this.db.transaction((list: { id: string; error: string }[]) => {
        for (const b of list) {
          move.run(b.error, now, b.id)
          del.run(b.id)
          delEnd.run(b.id)
        }
      })(broken),
    )
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
      where.push('seq < (SELECT rowid FROM tasks WHERE id = ?)')
      args.push(query.before)
    }
    // A task claimed by a claims row this run: its row is still the submit's, pending.
    const claimed = (id: string): number | undefined => (this.claimOf.has(id) ? (this.stored.get(id)! - 1) / 2 : undefined)
    return this.db
      .prepare(`SELECT id, state, data, end_data FROM (${ROWS}) ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`)
      .all(...args, query.limit)
      .flatMap((r) => {
        // Set aside at the next start when it is loaded; until then, a page skips it.
        const read = readTask(r, claimed)
        return typeof read === 'string' ? [] : [read]
      })
  }

  /** Deletes finished tasks beyond the retention; returns their ids so memory can drop them too. */
  prune(retention: Retention, now = Date.now()): string[] {
    const ids = new Set<string>()
    const marks = FINAL.map(() => '?').join(',')
    if (retention.keepDays !== undefined) {
      const cutoff = now - retention.keepDays * 86_400_000
      const rows = this.db
        .prepare(`SELECT id FROM ends WHERE ended_at < ? UNION ALL SELECT id FROM tasks WHERE state IN (${marks}) AND ended_at < ?`)
        .all(cutoff, ...FINAL, cutoff)
      for (const r of rows) ids.add(String(r.id))
    }
    if (retention.keepFinished !== undefined) {
      const rows = this.db
        .prepare(`SELECT id FROM (${ROWS}) WHERE state IN (${marks}) ORDER BY ended_at DESC, seq DESC LIMIT -1 OFFSET ?`)
        .all(...FINAL, retention.keepFinished)
      for (const r of rows) ids.add(String(r.id))
    }
    if (ids.size > 0) {
      const del = this.db.prepare('DELETE FROM tasks WHERE id = ?')
      const delEnd = this.db.prepare('DELETE FROM ends WHERE id = ?')
      this.db.transaction((list: string[]) => {
        for (const id of list) {
          del.run(id)
          delEnd.run(id)
        }
      })([...ids])
    }
    return [...ids]
  }

  close(): void {
    this.closed = true
    this.checkpointer?.stop()
    try {
      this.db.close()
    } catch {
      // already closed
    }
    this.lock?.release()
  }
}

function migrate(db: Database, from: number): void {
  if (from >= SCHEMA_VERSION) return
  // All steps or none: a failed migration leaves the store as it was, at its old version.
  db.exec('BEGIN IMMEDIATE')
  try {
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!)
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`)
    db.exec('COMMIT')
  } catch (e) {
    db.exec('ROLLBACK')
    throw e
  }
}

/** What stopped SQLite from opening or reading the store, as a StoreError. */
function openError(e: unknown, file: string): StoreError {
  const detail = e instanceof Error ? e.message : String(e)
  const code = sqliteCode(e)
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError('corrupt', `the task store ${file} is corrupt (${detail}); --reset-store moves it aside and starts a new one`)
  }
  return new StoreError('unreadable', `cannot open the task store ${file}: ${detail}`)
}

/** Renames the database and its WAL files to taskloop.db.broken-<time>[-wal|-shm] (kept together, still openable). */
function moveAside(file: string): string {
  const aside = `${file}.broken-${new Date().toISOString().replace(/:/g, '-')}`
  for (const suffix of ['-wal', '-shm', '']) {
    try {
      renameSync(file + suffix, aside + suffix)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StoreError('unreadable', `cannot move ${file + suffix} aside: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  }
  return aside
}

const parseJson = (data: unknown): unknown => {
  try {
    return JSON.parse(String(data))
  } catch {
    return undefined
  }
}

/**
 * A stored row (ROWS) as a task snapshot, or why it is not one. `claimed`: the attempt a claims
 * row of this run claimed of a task, if any.
 */
function readTask(row: Record<string, unknown>, claimed?: (id: string) => number | undefined): TaskSnapshot | string {
  const t = parseJson(row.data) as Partial<TaskSnapshot> | undefined
  if (t === undefined) return 'not valid JSON'
  if (!t || typeof t !== 'object') return 'not an object'
  if (row.end_data !== null && row.end_data !== undefined) {
    // An end: what the run changed replaces all but the fields a run never changes.
    const end = parseJson(row.end_data)
    if (!end || typeof end !== 'object' || Array.isArray(end)) return 'its end is not a JSON object'
    for (const k of Object.keys(t)) if (!STATIC.has(k)) delete (t as Record<string, unknown>)[k]
    Object.assign(t, end)
  }
  if (t.id !== row.id) return 'its id does not match its row'
  if (!t.spec || typeof t.spec !== 'object') return 'no spec'
  if (!(TASK_STATES as readonly unknown[]).includes(t.state)) return `unknown state ${JSON.stringify(t.state)}`
  if (!(EXECUTORS as readonly unknown[]).includes(t.executor)) return `unknown executor ${JSON.stringify(t.executor)}`
  if (typeof t.createdAt !== 'number') return 'no creation time'
  const full = t as Record<string, unknown>
  for (const [k, d] of Object.entries(SNAPSHOT_DEFAULTS)) if (!(k in full)) full[k] = d
  if (full.attempts === OWN_ATTEMPT) full.attempts = [currentAttempt(t as TaskSnapshot)]
  // A claim leaves the submit's data: as a claims row (this run's), or, folded at the next start
  // (TaskStore.foldClaims; and by versions before claims rows), as the state column.
  if (t.state === 'pending' && (row.state === 'running' || (claimed !== undefined && claimed(String(row.id)) === t.attempt))) t.state = 'running'
  return t as TaskSnapshot
}
