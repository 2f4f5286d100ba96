// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest'
import { CSV_COLUMNS, toCsv, toJson } from '../../renderer/src/export'
import { task } from './fixtures'

describe('export', () => {
  it('CSV: a header, one row per task, quoting and formula cells made safe', () => {
    const a = task({ id: 'a1', state: 'done', name: 'plain', startedAt: 1000, endedAt: 3500, createdAt: 0 })
    const b = task({ id: 'b2', state: 'failed', name: '=HYPERLINK("x")', error: { message: 'line one\nsaid "no", twice' } })
    const csv = toCsv([a, b])
    const lines = csv.split('\r\n')
    expect(lines[0]).toBe(CSV_COLUMNS.join(','))
    expect(lines[1]).toContain('a1,plain,')
    expect(lines[1]).toContain(',2500,')
    expect(csv).toContain(`"'=HYPERLINK(""x"")"`)
    expect(csv).toContain('"line one\nsaid ""no"", twice"')
    expect(csv.endsWith('\r\n')).toBe(true)
  })

  it('JSON: the full snapshots', () => {
    const t = task({ id: 'a1', state: 'done' })
    expect(JSON.parse(toJson([t]))).toEqual([t])
  })
})
