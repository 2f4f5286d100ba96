// The one line cap: a capped line fits the cap with its marker, and the marker says exactly how much was cut.
import { describe, expect, it } from 'vitest'
import { MAX_LOG_LINE_CHARS } from '../../../../common/defaults'
import { capLine, LineSplitter } from '../../../../engine/executors/lines'

const TEN_MB = 10 * 1024 * 1024
const MARKER = /… \[(\d+) chars cut\]$/

/** The number the marker states, checked against what is left of the line. */
function cutOf(capped: string): number {
  const m = MARKER.exec(capped)
  expect(m, `no marker at the end of "${capped.slice(-40)}"`).not.toBeNull()
  return Number(m![1])
}

function split(chunks: string[]): string[] {
  const lines: string[] = []
  const splitter = new LineSplitter((l) => lines.push(l))
  for (const c of chunks) splitter.push(c)
  splitter.end()
  return lines
}

describe('capLine', () => {
  it('leaves a line within the cap as it is', () => {
    const line = 'x'.repeat(MAX_LOG_LINE_CHARS)
    expect(capLine(line)).toBe(line)
    expect(capLine('')).toBe('')
  })

  it('a 10 MB line keeps its head, fits the cap marker included, and states the real amount cut', () => {
    const line = 'a'.repeat(TEN_MB)
    const capped = capLine(line)
    expect(capped.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS)
    const head = capped.replace(MARKER, '')
    expect(line.startsWith(head)).toBe(true)
    expect(head.length).toBeGreaterThan(MAX_LOG_LINE_CHARS - 100)
    expect(cutOf(capped)).toBe(TEN_MB - head.length)
  })

  it('capping twice changes nothing (a line capped at its source passes the task log as is)', () => {
    const once = capLine('b'.repeat(MAX_LOG_LINE_CHARS + 1))
    expect(capLine(once)).toBe(once)
    expect(cutOf(once)).toBe(MAX_LOG_LINE_CHARS + 1 - once.replace(MARKER, '').length)
  })

  it('counts characters a splitter dropped before the line reached it', () => {
    const head = 'c'.repeat(MAX_LOG_LINE_CHARS)
    const capped = capLine(head, 5000)
    expect(cutOf(capped)).toBe(MAX_LOG_LINE_CHARS + 5000 - capped.replace(MARKER, '').length)
  })

  it('never splits a surrogate pair', () => {
    const line = '😀'.repeat(MAX_LOG_LINE_CHARS)
    const head = capLine(line).replace(MARKER, '')
    expect(head.length % 2).toBe(0)
    expect(cutOf(capLine(line))).toBe(line.length - head.length)
  })
})

describe('LineSplitter', () => {
  it('splits lines across chunks and drops the \\r of CRLF', () => {
    expect(split(['one\r\ntw', 'o\nthr', 'ee'])).toEqual(['one', 'two', 'three'])
  })

  it('a 10 MB line arriving in 64 KiB chunks becomes one capped line stating the real amount cut; the next line is intact', () => {
    const chunk = 'z'.repeat(64 * 1024)
    const chunks = Array.from({ length: TEN_MB / chunk.length }, () => chunk)
    chunks.push('\r\nafter\n')
    const lines = split(chunks)
    expect(lines).toHaveLength(2)
    expect(lines[0]!.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS)
    expect(cutOf(lines[0]!)).toBe(TEN_MB - lines[0]!.replace(MARKER, '').length)
    expect(lines[1]).toBe('after')
  })

  it('an overlong last line without a newline is still emitted, with its count', () => {
    const [line] = split(['y'.repeat(MAX_LOG_LINE_CHARS + 10)])
    expect(cutOf(line!)).toBe(MAX_LOG_LINE_CHARS + 10 - line!.replace(MARKER, '').length)
  })

  it('a line exactly at the cap, ending in CRLF, is not cut', () => {
    const line = 'w'.repeat(MAX_LOG_LINE_CHARS)
    expect(split([line + '\r', '\n'])).toEqual([line])
  })
})
