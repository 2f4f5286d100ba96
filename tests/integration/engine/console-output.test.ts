// A job's console output belongs to its own task: on a pool worker that runs task after task, the
// lines a job printed just before it returned are in its log (not lost, not in the next task's),
// in order with its ctx.log lines, and with their stream. Real threads and child processes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../../../engine/engine'
import { waitFinal } from '../../helpers/engine'

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-console-'))
const jobs = path.join(dir, 'print.mjs')
writeFileSync(
  jobs,
  `export function print({ n }, ctx) {
  console.log('out ' + n + ' a')
  ctx.log('log ' + n)
  process.stdout.write('out ' + n + ' b\\npartial ' + n)
  console.error('err ' + n)
  return n
}
`,
)

let engine: Engine | null = null
afterEach(async () => {
  await engine?.shutdown({ graceMs: 500 })
  engine = null
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("a job's console output", () => {
  for (const executor of ['thread', 'process'] as const) {
    it(`on one ${executor} worker, 40 tasks back to back: each task has its own lines, in order, with their streams`, async () => {
      engine = new Engine({ limits: { [executor]: 1 } })
      const { ids } = await engine.submit({
        batch: { tasks: Array.from({ length: 40 }, (_, n) => ({ job: `${jobs}#print`, executor, params: { n } })) },
      })
      const done = await waitFinal(engine, ids, 60_000)
      expect(done.map((t) => t.state)).toEqual(ids.map(() => 'done'))
      for (const [n, id] of ids.entries()) {
        const log = (await engine.get(id)).log.map((l) => [l.stream, l.line])
        expect(log, `task ${n}`).toEqual([
          ['stdout', `out ${n} a`],
          ['log', `log ${n}`],
          ['stdout', `out ${n} b`],
          ['stderr', `err ${n}`],
          ['stdout', `partial ${n}`],
        ])
      }
    })
  }
})
