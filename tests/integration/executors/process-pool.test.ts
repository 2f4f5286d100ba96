import { spawn } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ProcessPool } from '../../../engine/executors/process-pool'
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

  it('a child exits by itself when its parent dies without cleaning up', async () => {
    const root = path.resolve(import.meta.dirname, '../../..')
    const parent = spawn(
      process.execPath,
      ['--import', path.join(root, 'tests/helpers/ts-entry-register.mjs'), path.join(import.meta.dirname, 'orphan-parent.ts')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    parent.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    try {
      await waitFor(() => /pid \d+/.test(out), 20_000, 'the parent to start its child')
      const child = Number(/pid (\d+)/.exec(out)![1])
      expect(alive(child)).toBe(true)
      parent.kill('SIGKILL')
      await waitFor(() => !alive(child), 5000, `orphaned child ${child} to exit`)
    } finally {
      parent.kill('SIGKILL')
    }
  })
})
