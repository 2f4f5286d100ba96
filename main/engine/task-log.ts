// Each task's log: a bounded in-memory tail plus live subscribers.
// Lines reach subscribers coalesced per event interval, so a flooding job cannot flood a client.
import type { LogLine } from '../../common/types'

const MAX_LINES = 2000
const MAX_LINE_CHARS = 16_384

interface Entry {
  lines: LogLine[]
  seq: number
  pendingFrom: number
  listeners: Set<(lines: LogLine[]) => void>
}

export class TaskLogs {
  private logs = new Map<string, Entry>()
  private dirty = new Set<Entry>()
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly intervalMs: number) {}

  append(taskId: string, line: string, stream: LogLine['stream']): void {
    const e = this.entry(taskId)
    if (line.length > MAX_LINE_CHARS) line = `${line.slice(0, MAX_LINE_CHARS)}… [${line.length - MAX_LINE_CHARS} chars cut]`
    e.lines.push({ seq: ++e.seq, time: Date.now(), stream, line })
    if (e.lines.length > MAX_LINES) e.lines.splice(0, e.lines.length - MAX_LINES)
    if (e.listeners.size > 0) {
      this.dirty.add(e)
      this.timer ??= setTimeout(() => this.flush(), this.intervalMs)
    }
  }

  tail(taskId: string, count = 200): LogLine[] {
    return this.logs.get(taskId)?.lines.slice(-count) ?? []
  }

  subscribe(taskId: string, listener: (lines: LogLine[]) => void): () => void {
    const e = this.entry(taskId)
    // Deliver what earlier subscribers are owed first, so the new one's tail and theirs line up.
    this.flush()
    e.pendingFrom = e.seq
    e.listeners.add(listener)
    listener(e.lines.slice())
    return () => {
      e.listeners.delete(listener)
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    for (const e of this.dirty) {
      const fresh = e.lines.filter((l) => l.seq > e.pendingFrom)
      e.pendingFrom = e.seq
      if (fresh.length === 0) continue
      for (const l of e.listeners) {
        try {
          l(fresh)
        } catch {
          // a subscriber's failure is its own
        }
      }
    }
    this.dirty.clear()
  }

  private entry(taskId: string): Entry {
    let e = this.logs.get(taskId)
    if (!e) {
      e = { lines: [], seq: 0, pendingFrom: 0, listeners: new Set() }
      this.logs.set(taskId, e)
    }
    return e
  }
}
