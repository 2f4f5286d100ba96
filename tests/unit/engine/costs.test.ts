// engine/costs.ts: a thread's CPU time and wake-ups, as the serve bench reads them per task.
import { describe, expect, it } from 'vitest'
import { threadCosts } from '../../../engine/costs'

describe.runIf(process.platform === 'linux')('threadCosts', () => {
  it('counts a wake-up each time the thread slept waiting for work', async () => {
    const before = threadCosts()
    expect(before.cpuMs).toEqual(expect.any(Number))
    expect(before.wakeups).toEqual(expect.any(Number))
    // Each timer leaves the event loop nothing to do until it fires: the thread sleeps in the poll.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(threadCosts().wakeups).toBeGreaterThanOrEqual(before.wakeups! + 1)
  })
})
