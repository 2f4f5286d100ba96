// Each task's log: a bounded in-memory tail plus live subscribers, and (with a data folder) a file
// per task that keeps the head and the tail when the output is too big to keep whole.
// Lines reach subscribers coalesced per event interval, so a flooding job cannot flood a client.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { LogLine } from '../common/types'
import { capLine } from './executors/lines'
import { makePrivateDir, PRIVATE_FILE } from './data-folder'

const MAX_LINES = 2000
/** Bytes of a task's output written to its file as they come; beyond that only the tail is kept. */
export const LOG_HEAD_BYTES = 1 << 20
export const LOG_TAIL_LINES = 5000

interface Entry {
  id: string
  /** Oldest first; trimmed in steps of MAX_LINES so a flood costs O(1) per line. */
  lines: LogLine[]
  seq: number
  pendingFrom: number
  listeners: Set<(lines: LogLine[]) => void>
  file: LogFile | null
}

/** head written live; once capped, the last lines are held and written after a cut marker on close. */
class LogFile {
  private fd: number | null
  private written = 0
  private cut = 0
  private tail: string[] = []

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a', PRIVATE_FILE)
  }

  write(l: LogLine): void {
    if (this.fd === null) return
    const text = `${new Date(l.time).toISOString()} ${l.stream} ${l.line}\n`
    if (this.written + text.length <= LOG_HEAD_BYTES) {
      writeSync(this.fd, text)
      this.written += text.length
      return
    }
    this.tail.push(text)
    if (this.tail.length > 2 * LOG_TAIL_LINES) {
      for (const t of this.tail.splice(0, this.tail.length - LOG_TAIL_LINES)) this.cut += t.length
    }
  }

  close(): void {
    if (this.fd === null) return
    if (this.tail.length > LOG_TAIL_LINES) {
      for (const t of this.tail.splice(0, this.tail.length - LOG_TAIL_LINES)) this.cut += t.length
    }
    if (this.cut > 0) writeSync(this.fd, `[… ${this.cut} bytes of output cut: the head and the tail are kept …]\n`)
    if (this.tail.length > 0) writeSync(this.fd, this.tail.join(''))
    closeSync(this.fd)
    this.fd = null
    this.tail = []
  }
}

/** Every line of some tasks (the cluster layer's, engine.followClusterLogs), one call per flush. */
export interface LogFollower {
  wants(taskId: string): boolean
  lines(logs: { id: string; lines: LogLine[] }[]): void
}

export class TaskLogs {
  private logs = new Map<string, Entry>()
  private follower: LogFollower | null = null
  private dirty = new Set<Entry>()
  private timer: NodeJS.Timeout | null = null
  private readonly dir: string | null
  /** The last file error; the in-memory tail keeps working without files. */
  lastError: string | null = null

  constructor(
    private readonly intervalMs: number,
    dataDir?: string,
  ) {
    this.dir = dataDir ? path.join(dataDir, 'logs') : null
    if (this.dir) {
      try {
        makePrivateDir(this.dir)
      } catch (e) {
        this.lastError = `cannot create ${this.dir}: ${e instanceof Error ? e.message : String(e)}`
      }
    }
  }

  /** Where a task's full log lives, when the engine has a data folder. */
  fileOf(taskId: string): string | null {
    return this.dir && path.join(this.dir, `${taskId}.log`)
  }

  append(taskId: string, line: string, stream: LogLine['stream']): void {
    const e = this.entry(taskId)
    // Executors cap at the source (then this changes nothing); the engine's own lines are capped here.
    line = capLine(line)
    const l: LogLine = { seq: ++e.seq, time: Date.now(), stream, line }
    e.lines.push(l)
    if (e.lines.length > 2 * MAX_LINES) e.lines.splice(0, e.lines.length - MAX_LINES)
    if (this.dir && !this.lastError) {
      try {
        e.file ??= new LogFile(this.fileOf(taskId)!)
        e.file.write(l)
      } catch (err) {
        this.lastError = `cannot write task logs in ${this.dir}: ${err instanceof Error ? err.message : String(err)}`
      }
    }
    if (e.listeners.size > 0 || this.follower?.wants(taskId)) {
      this.dirty.add(e)
      this.timer ??= setTimeout(() => this.flush(), this.intervalMs)
    }
  }

  /** The task ended: write its file's tail and release the file. */
  close(taskId: string): void {
    const e = this.logs.get(taskId)
    if (!e?.file) return
    try {
      e.file.close()
    } catch (err) {
      this.lastError = `cannot write task logs in ${this.dir}: ${err instanceof Error ? err.message : String(err)}`
    }
    e.file = null
  }

  tail(taskId: string, count = 200): LogLine[] {
    const e = this.logs.get(taskId)
    if (e) return e.lines.slice(-Math.min(count, MAX_LINES))
    return this.tailFromFile(taskId, count)
  }

  /** A task from an earlier run of the app: its tail comes from its file. */
  private tailFromFile(taskId: string, count: number): LogLine[] {
    const file = this.fileOf(taskId)
    if (!file) return []
    let fd: number | null = null
    try {
      fd = openSync(file, 'r')
      const size = fstatSync(fd).size
      const len = Math.min(size, 256 * 1024)
      const buf = Buffer.alloc(len)
      readSync(fd, buf, 0, len, size - len)
      const rows = buf.toString('utf8').split('\n').filter(Boolean).slice(-count)
      return rows.map((row, i) => {
        const m = /^(\S+) (stdout|stderr|log) (.*)$/.exec(row)
        return m
          ? { seq: i + 1, time: Date.parse(m[1]!), stream: m[2] as LogLine['stream'], line: m[3]! }
          : { seq: i + 1, time: 0, stream: 'log' as const, line: row }
      })
    } catch {
      return []
    } finally {
      if (fd !== null) closeSync(fd)
    }
  }

  subscribe(taskId: string, listener: (lines: LogLine[]) => void): () => void {
    const e = this.entry(taskId)
    // Deliver what earlier subscribers are owed first, so the new one's tail and theirs line up.
    this.flush()
    e.pendingFrom = e.seq
    e.listeners.add(listener)
    listener(e.lines.slice(-MAX_LINES))
    return () => {
      e.listeners.delete(listener)
    }
  }

  /** Set once: from then on the lines of the tasks it wants reach it with every flush, without a subscription per task. */
  follow(follower: LogFollower): void {
    this.follower = follower
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const followed: { id: string; lines: LogLine[] }[] = []
    for (const e of this.dirty) {
      const fresh: LogLine[] = []
      for (let i = e.lines.length - 1; i >= 0 && e.lines[i]!.seq > e.pendingFrom; i--) fresh.push(e.lines[i]!)
      fresh.reverse()
      e.pendingFrom = e.seq
      if (fresh.length === 0) continue
      // A flood between two flushes reaches a subscriber as its last MAX_LINES lines.
      const send = fresh.length > MAX_LINES ? fresh.slice(-MAX_LINES) : fresh
      for (const l of e.listeners) {
        try {
          l(send)
        } catch {
          // a subscriber's failure is its own
        }
      }
      if (this.follower?.wants(e.id)) followed.push({ id: e.id, lines: send })
    }
    this.dirty.clear()
    if (followed.length > 0) {
      try {
        this.follower!.lines(followed)
      } catch {
        // the follower's failure is its own
      }
    }
  }

  /** Closes every open file (shutdown). */
  closeAll(): void {
    for (const id of this.logs.keys()) this.close(id)
    this.flush()
  }

  /** Forgets tasks dropped by retention. */
  forget(ids: string[]): void {
    for (const id of ids) {
      this.close(id)
      this.logs.delete(id)
    }
  }

  private entry(taskId: string): Entry {
    let e = this.logs.get(taskId)
    if (!e) {
      e = { id: taskId, lines: [], seq: 0, pendingFrom: 0, listeners: new Set(), file: null }
      this.logs.set(taskId, e)
    }
    return e
  }
}
