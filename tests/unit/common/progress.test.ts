// The one progress clamp: whatever a job or a command reports becomes 0..1 or null.
import { describe, expect, it } from 'vitest'
import { clampProgress } from '../../../common/progress'

describe('clampProgress', () => {
  it('keeps null (indeterminate) and fractions in range', () => {
    expect(clampProgress(null)).toBeNull()
    expect(clampProgress(0)).toBe(0)
    expect(clampProgress(0.42)).toBe(0.42)
    expect(clampProgress(1)).toBe(1)
  })

  it('clamps out-of-range values and turns what is not a number into 0', () => {
    expect(clampProgress(1.5)).toBe(1)
    expect(clampProgress(Infinity)).toBe(1)
    expect(clampProgress(-0.1)).toBe(0)
    expect(clampProgress(-Infinity)).toBe(0)
    expect(clampProgress(Number.NaN)).toBe(0)
    expect(clampProgress(undefined)).toBe(0)
    expect(clampProgress('0.5')).toBe(0.5)
    expect(clampProgress('lots')).toBe(0)
    expect(Object.is(clampProgress(-0), 0)).toBe(true)
  })
})
