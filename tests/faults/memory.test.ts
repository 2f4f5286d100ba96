// A thread job that exhausts its memory: its worker hits the heap limit and ends, the task fails as
// crashed with the reason, the pool replaces the worker, and the app lives on.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { useEngines, waitFinal } from '../helpers/engine'

const newEngine = useEngines(200)

describe('memory exhaustion', () => {
  it('a thread job past its heap limit fails as crashed; the next job on the pool runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-oom-'))
    writeFileSync(path.join(dir, 'jobs.mjs'), 'export async function hog() { const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random())) }\n')
    const engine = newEngine({ cwd: dir, limits: { thread: 1 }, threadHeapMb: 64 })
    const { ids } = await engine.submit({
      batch: { tasks: [{ name: 'hog', job: './jobs.mjs#hog', executor: 'thread' }, { name: 'after', job: 'primes', params: { below: 100 } }] },
    })
    const [hog, after] = await waitFinal(engine, ids, 60_000)
    expect(hog).toMatchObject({ state: 'failed', reason: 'crashed' })
    expect(hog!.error!.message).toMatch(/memory/i)
    expect(after).toMatchObject({ state: 'done', result: { count: 25, largest: 97 } })
  }, 70_000)
})
