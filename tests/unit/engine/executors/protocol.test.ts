// The runs a pool sends a worker: one text per message, each job named once, read back as sent.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { decodeRuns, encodeRuns, type RunMessage } from '../../../../engine/executors/protocol'

const run = (id: number, job: string, params: Record<string, unknown> = {}, cell = -1): RunMessage => ({
  id,
  cell,
  request: { job, params, inputs: [], taskId: `t${id}`, attempt: 1 },
})

describe('encodeRuns / decodeRuns', () => {
  it('round-trips runs of several jobs in order, params, inputs, ids, cells and attempts kept', () => {
    const runs = [
      run(1, 'jobs.mjs#a', { n: 1, text: 'ünï "quoted"\n' }, 0),
      run(2, 'jobs.mjs#b', {}, 7),
      { ...run(3, 'jobs.mjs#a', { nested: { list: [1, null, 'x'] } }), request: { ...run(3, 'jobs.mjs#a').request, inputs: [{ from: 'p' }, 2], attempt: 3 } },
      run(0x7fffffff, 'sleep'),
    ]
    expect(decodeRuns(encodeRuns(runs))).toEqual(runs)
  })

  it('names each job once per message, however many runs it has', () => {
    const text = encodeRuns(Array.from({ length: 50 }, (_, i) => run(i, '/a/long/path/to/jobs.mjs#tiny', { n: i })))
    expect(text.split('/a/long/path/to/jobs.mjs#tiny').length - 1).toBe(1)
    expect(decodeRuns(text)).toHaveLength(50)
  })

  it('an empty list stays empty', () => {
    expect(decodeRuns(encodeRuns([]))).toEqual([])
  })
})

describe('jobRequest', () => {
  it('gives every run the same hidden class (V8), whatever its params', () => {
    // %HaveSameMap needs --allow-natives-syntax, a flag this process was not started with: a child
    // node checks the requests made from decoded runs, as a worker makes them.
    const script = `
      const { decodeRuns, encodeRuns, jobRequest } = await import(${JSON.stringify(new URL('../../../../engine/executors/protocol.ts', import.meta.url).href)})
      const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)')
      const runs = Array.from({ length: 200 }, (_, i) => ({ id: i, cell: -1, request: { job: 'jobs.mjs#tiny', params: i % 2 ? { n: i } : { text: 'x', list: [i] }, inputs: [], taskId: 't' + i, attempt: 1 } }))
      const requests = decodeRuns(encodeRuns(runs)).map((r) => jobRequest(r.request, '/work', ['/jobs']))
      process.stdout.write(JSON.stringify({ differ: requests.filter((r, i) => i > 0 && !sameMap(requests[i - 1], r)).length, first: requests[0] }))
    `
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', './tests/helpers/ts-entry-register.mjs', '--input-type=module', '-e', script], { encoding: 'utf8' })
    const { differ, first } = JSON.parse(out) as { differ: number; first: unknown }
    expect(first).toEqual({ job: 'jobs.mjs#tiny', params: { text: 'x', list: [0] }, inputs: [], taskId: 't0', attempt: 1, cwd: '/work', jobsDirs: ['/jobs'] })
    expect(differ).toBe(0)
  })
})
