import type { Readable } from 'node:stream'

// Splits a byte stream into lines for the task log: partial lines are kept until their
// newline, and a single line is capped so one endless line cannot eat the memory.
export const MAX_LINE = 64 * 1024

export class LineSplitter {
  private partial = ''
  private dropping = false

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = MAX_LINE,
  ) {}

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
    if (this.partial !== '' && !this.dropping) this.emit(this.partial)
    this.partial = ''
    this.dropping = false
  }

  private take(piece: string, complete: boolean): void {
    if (!this.dropping) {
      this.partial += piece
      if (this.partial.length > this.maxLine) {
        // Keep the head of an overlong line, drop the rest up to its newline.
        this.emit(this.partial.slice(0, this.maxLine) + ' …[line truncated]')
        this.partial = ''
        this.dropping = true
      }
    }
    if (complete) {
      if (!this.dropping) this.emit(this.partial)
      this.partial = ''
      this.dropping = false
    }
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line)
  }
}

/** Feeds a child's output stream to `onLine`, one line at a time. */
export function pipeLines(stream: Readable, onLine: (line: string) => void): void {
  const lines = new LineSplitter(onLine)
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => lines.push(chunk))
  stream.on('end', () => lines.end())
}
