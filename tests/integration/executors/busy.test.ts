// Per-worker busy time: totals, runs, and utilization over the last 10 s.
import { describe, expect, it } from 'vitest'
import { BusyMeter } from '../../../engine/executors/busy'

describe('BusyMeter', () => {
  it('adds up run times, counts runs, and reports the busy share of its life so far', () => {
    const born = performance.now()
    const m = new BusyMeter()
    m.begin(born + 100)
    m.end(undefined, born + 400) // 300 ms busy
    m.begin(born + 500)
    m.end(50, born + 700) // the worker timed 50 ms: message delays are not busy time
    expect(m.runs).toBe(2)
    expect(m.busyMs).toBeCloseTo(350, 5)
    expect(m.utilization(born + 1000)).toBeCloseTo(0.35, 1)
  })

  it('counts a run in progress, and forgets what is older than 10 s', () => {
    const born = performance.now()
    const m = new BusyMeter()
    m.begin(born)
    expect(m.total(born + 2000)).toBeCloseTo(2000, 5)
    expect(m.utilization(born + 2000)).toBeCloseTo(1, 5)
    m.end(undefined, born + 2000)
    // 20 s later, idle all along: the window holds nothing of that run.
    expect(m.utilization(born + 22_000)).toBe(0)
    expect(m.busyMs).toBeCloseTo(2000, 5)
  })
})
