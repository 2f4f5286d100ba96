// The runs a pool sends a worker: one text per message, each job named once, read back as sent.
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
