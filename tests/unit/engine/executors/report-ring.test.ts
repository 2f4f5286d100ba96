// The report ring a pool thread writes and the engine thread reads: everything written since the
// last read, whole and in order, across the end of the buffer; a write that does not fit refused;
// a read that stops where a ring message says.
import { describe, expect, it } from 'vitest'
import { ReportRing } from '../../../../engine/executors/report-ring'

describe('ReportRing', () => {
  it('reads back what was written since the last read, in order, then nothing', () => {
    const ring = ReportRing.create(64)
    expect(ring.write(',"a"')).toBe(true)
    expect(ring.write(',{"ü":"ñ"}')).toBe(true)
    expect(JSON.parse(`[${ring.read().slice(1)}]`)).toEqual(['a', { ü: 'ñ' }])
    expect(ring.read()).toBe('')
  })

  it('tells the writer how far the reader has read (what it need not ring for)', () => {
    const ring = ReportRing.create(64)
    const before = ring.written
    ring.write(',1')
    expect(ring.readCount).toBe(before)
    ring.write(',2')
    ring.read(before + 2)
    expect(ring.readCount).toBe(before + 2)
    expect(ring.readCount).not.toBe(ring.written)
    ring.read()
    expect(ring.readCount).toBe(ring.written)
  })

  it('wraps around the end of its buffer, many times over', () => {
    const ring = ReportRing.create(128)
    let got = ''
    let sent = ''
    for (let i = 0; i < 500; i++) {
      const text = `,${JSON.stringify(['x'.repeat(i % 23), i])}`
      expect(ring.write(text)).toBe(true)
      sent += text
      if (i % 3 === 2) got += ring.read()
    }
    got += ring.read()
    expect(got).toBe(sent)
  })

  it('refuses a write that does not fit until the reader makes room', () => {
    const ring = ReportRing.create(64)
    expect(ring.write('x'.repeat(40))).toBe(true)
    expect(ring.write('y'.repeat(40))).toBe(false)
    expect(ring.read()).toBe('x'.repeat(40))
    expect(ring.write('y'.repeat(40))).toBe(true)
    expect(ring.write('z'.repeat(65))).toBe(false) // never fits: the caller posts it instead
  })

  it('reads up to a write counter only; a read that is already past it reads nothing', () => {
    const ring = ReportRing.create(64)
    ring.write(',1')
    const at = ring.written
    ring.write(',2')
    expect(ring.read(at)).toBe(',1')
    expect(ring.read()).toBe(',2')
    expect(ring.read(at)).toBe('')
  })

  it('the reader and the writer may be on two threads: both see one shared buffer', () => {
    const writer = ReportRing.create(64)
    const reader = new ReportRing(writer.buffer)
    writer.write(',3')
    expect(reader.read()).toBe(',3')
    expect(writer.write('x'.repeat(64))).toBe(true) // the read made room
  })
})
