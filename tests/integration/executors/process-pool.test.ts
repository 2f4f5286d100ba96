import { describe, expect, it } from 'vitest'
import { ProcessPool } from '../../../main/engine/executors/process-pool'
import { alive, drive, pidOf, succeeds, waitFor } from './harness'
import { poolSuite } from './pool-suite'

poolSuite('process', (size) => new ProcessPool({ size }), /^pid \d+$/)

describe('process pool children', () => {
  it('a killed child is really gone, and close() leaves no child behind', async () => {
    const pool = new ProcessPool({ size: 2 })
    const spin = drive(pool, { job: 'spin', params: { ms: 30_000, ignoreCancel: true } })
    await waitFor(() => spin.heard.progress.length > 0, 10_000, 'spin progress')
    const pid = pidOf(spin.heard.worker)
    spin.run.kill()
    await spin.outcome
    await waitFor(() => !alive(pid), 3000, `pid ${pid} to exit`)

    const other = drive(pool, { job: 'sleep', params: { ms: 10 } })
    await succeeds(other.outcome)
    const pid2 = pidOf(other.heard.worker)
    expect(alive(pid2)).toBe(true)
    await pool.close()
    expect(alive(pid2)).toBe(false)
  })
})
