// The one result normaliser: plain JSON, the same whichever executor ran the job, and small.
import { describe, expect, it } from 'vitest'
import { MAX_RESULT_CHARS } from '../../../../common/defaults'
import { TaskFailure } from '../../../../engine/executors/executor'
import { toResult } from '../../../../engine/executors/result'

describe('toResult', () => {
  it('scalars: undefined and non-finite numbers become null, -0 becomes 0', () => {
    expect(toResult(undefined)).toBeNull()
    expect(toResult(null)).toBeNull()
    expect(toResult(Number.NaN)).toBeNull()
    expect(toResult(Infinity)).toBeNull()
    expect(Object.is(toResult(-0), 0)).toBe(true)
    expect(toResult(true)).toBe(true)
    expect(toResult('short')).toBe('short')
  })

  it('objects become plain JSON (dates as strings, functions and undefined fields gone)', () => {
    const at = new Date(0)
    expect(toResult({ at, f: () => 1, u: undefined, n: [1, Number.NaN] })).toEqual({ at: at.toISOString(), n: [1, null] })
    expect(toResult(() => 1)).toBeNull()
  })

  it('a result whose JSON passes the cap becomes a preview that says its size, strings included', () => {
    const big = { rows: Array.from({ length: 20_000 }, (_, i) => ({ i })) }
    const chars = JSON.stringify(big).length
    expect(chars).toBeGreaterThan(MAX_RESULT_CHARS)
    const cut = toResult(big) as { truncated: boolean; chars: number; preview: string }
    expect(cut).toMatchObject({ truncated: true, chars })
    expect(JSON.stringify(big).startsWith(cut.preview)).toBe(true)
    expect(toResult('s'.repeat(MAX_RESULT_CHARS))).toMatchObject({ truncated: true, chars: MAX_RESULT_CHARS + 2 })
    // Escapes count: a string short in characters but long in JSON is cut too.
    expect(toResult('\u0001'.repeat(MAX_RESULT_CHARS / 4))).toMatchObject({ truncated: true, chars: (MAX_RESULT_CHARS / 4) * 6 + 2 })
    const fits = 'f'.repeat(MAX_RESULT_CHARS - 2)
    expect(toResult(fits)).toBe(fits)
  })

  it('a result that is not JSON fails the run with a TaskFailure saying why', () => {
    const loop: Record<string, unknown> = {}
    loop.self = loop
    expect(() => toResult(loop)).toThrow(TaskFailure)
    expect(() => toResult(10n)).toThrow(/job result is not JSON: .*BigInt/)
  })
})
