// Log lines: the one cap on a line's length with its one truncation marker, and the splitter that
// turns a child's output stream into capped lines (one endless line cannot eat the memory).
import type { Readable } from 'node:stream'
import { MAX_LOG_LINE_CHARS } from '../../common/defaults'

const MARKER_CHARS = '… [ chars cut]'.length

/**
 * The line as it enters a task log: at most MAX_LOG_LINE_CHARS, marker included, so capping again
 * changes nothing. A longer one keeps its head and ends with "… [N chars cut]", N counting every
 * character it lost, `dropped` ones included (those a splitter never kept).
 */
export function capLine(line: string, dropped = 0): string {
  if (dropped === 0 && line.length <= MAX_LOG_LINE_CHARS) return line
  const total = line.length + dropped
  let head = Math.min(line.length, MAX_LOG_LINE_CHARS - MARKER_CHARS - String(total).length)
  // Never split a surrogate pair: half a character would print as garbage.
  const code = line.charCodeAt(head - 1)
  if (code >= 0xd800 && code <= 0xdbff) head--
  return `${line.slice(0, head)}… [${total - head} chars cut]`
}

export class LineSplitter {
  private partial = ''
  /** Characters of the current overlong line dropped past its kept head (0: not dropping). */
  private dropped = 0
  /** The last character dropped was a \r (of a CRLF ending, not content). */
  private droppedCr = false

  constructor(private readonly onLine: (line: string) => void) {}

  /** Text chunks (the stream has setEncoding('utf8'), so no character is split). */
  push(chunk: string): void {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf('\n', start)
      if (nl < 0) break
      this.take(chunk.slice(start, nl), true)
      start = nl + 1
    }
    if (start < chunk.length) this.take(chunk.slice(start), false)
  }

  end(): void {
    if (this.partial !== '') this.emit()
  }

  private take(piece: string, complete: boolean): void {
    if (this.dropped > 0) {
      this.dropped += piece.length
      if (piece !== '') this.droppedCr = piece.endsWith('\r')
    } else {
      this.partial += piece
      if (this.partial.length > MAX_LOG_LINE_CHARS) {
        // Keep the head of an overlong line and count the rest up to its newline: the marker says how much.
        this.dropped = this.partial.length - MAX_LOG_LINE_CHARS
        this.droppedCr = this.partial.endsWith('\r')
        this.partial = this.partial.slice(0, MAX_LOG_LINE_CHARS)
      }
    }
    if (complete) {
      if (this.dropped > 0 && this.droppedCr) this.dropped--
      this.emit()
    }
  }

  private emit(): void {
    let line = this.partial
    if (this.dropped > 0) line = capLine(line, this.dropped)
    else if (line.endsWith('\r')) line = line.slice(0, -1)
    this.partial = ''
    this.dropped = 0
    this.onLine(line)
  }
}

/** Feeds a child's output stream to `onLine`, one line at a time. */
export function pipeLines(stream: Readable, onLine: (line: string) => void): void {
  const lines = new LineSplitter(onLine)
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => lines.push(chunk))
  stream.on('end', () => lines.end())
}
