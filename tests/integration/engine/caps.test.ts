// Every way a line or a result enters the engine goes through the one cap: a 10 MB line in a task
// log says how much was cut, whichever path it took; a huge result is a preview on every executor.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { MAX_LOG_LINE_CHARS, MAX_RESULT_CHARS } from '../../../common/defaults'
import type { LogLine } from '../../../common/types'
import { Engine } from '../../../engine/engine'
import { waitFinal } from '../../helpers/engine'

const TEN_MB = 10 * 1024 * 1024
const MARKER = /… \[(\d+) chars cut\]$/

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-caps-'))
const jobs = path.join(dir, 'big.mjs')
writeFileSync(
  jobs,
  `const line = 'q'.repeat(${TEN_MB})
export async function logged(params, ctx) { ctx.log(line); ctx.log('after') }
export async function printed() { console.log(line); console.log('after'); await new Promise((r) => setTimeout(r, 100)) }
export async function huge() { return { text: 'r'.repeat(${2 * MAX_RESULT_CHARS}) } }
`,
)

let engine: Engine | null = null
afterEach(async () => {
  await engine?.shutdown({ graceMs: 500 })
  engine = null
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The capped line, checked: within the cap, and its marker counts exactly what is missing of the 10 MB. */
function expectCapped(log: LogLine[], which = ''): void {
  const lines = log.map((l) => l.line)
  const capped = lines.find((l) => MARKER.test(l))
  expect(capped, `no capped line in ${JSON.stringify(lines.map((l) => l.slice(0, 40)))}`).toBeDefined()
  expect(capped!.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS)
  const head = capped!.replace(MARKER, '')
  expect(Number(MARKER.exec(capped!)![1])).toBe(TEN_MB - head.length)
  expect(lines, `${which}: ${JSON.stringify(lines.map((l) => l.slice(0, 40)))}`).toContain('after')
}

describe('the one line cap, end to end', () => {
  it('a 10 MB line from a command, from ctx.log on each executor and from console.log in a thread', async () => {
    engine = new Engine()
    const { ids } = await engine.submit({
      batch: {
        tasks: [
          { argv: [process.execPath, '-e', `process.stdout.write('q'.repeat(${TEN_MB}) + '\\nafter\\n')`] },
          { job: `${jobs}#logged`, executor: 'loop' },
          { job: `${jobs}#logged`, executor: 'thread' },
          { job: `${jobs}#logged`, executor: 'process' },
          { job: `${jobs}#printed`, executor: 'thread' },
        ],
      },
    })
    const done = await waitFinal(engine, ids, 60_000)
    expect(done.map((t) => t.state)).toEqual(['done', 'done', 'done', 'done', 'done'])
    for (const [i, id] of ids.entries()) expectCapped((await engine.get(id)).log, `task ${i}`)
  })

  it('a huge result is the same preview on loop, thread and process', async () => {
    engine = new Engine()
    const { ids } = await engine.submit({
      batch: { tasks: (['loop', 'thread', 'process'] as const).map((executor) => ({ job: `${jobs}#huge`, executor })) },
    })
    const done = await waitFinal(engine, ids, 60_000)
    const chars = JSON.stringify({ text: 'r'.repeat(2 * MAX_RESULT_CHARS) }).length
    for (const t of done) expect(t).toMatchObject({ state: 'done', result: { truncated: true, chars, preview: expect.stringMatching(/^\{"text":"r+$/) } })
  })
})
