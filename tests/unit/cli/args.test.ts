// The Redis-list flags of `taskloop serve` (cli/args.ts): checked before anything starts. That
// they need --redis is checked with the cluster's flags (cli/serve.ts; tests/faults/redis-list.test.ts).
import { describe, expect, it } from 'vitest'
import { listsOption } from '../../../cli/args'

describe('listsOption', () => {
  it('gives the lists and the job', () => {
    expect(listsOption({ 'redis-list': ['queue', 'other'], 'list-job': 'sleep-seconds' })).toEqual({ lists: ['queue', 'other'], listJob: 'sleep-seconds' })
    expect(listsOption({ 'redis-list': ['q'] })).toEqual({ lists: ['q'] })
    expect(listsOption({})).toBeNull()
  })

  it('refuses what cannot work, saying why', () => {
    const cases: [Parameters<typeof listsOption>[0], RegExp][] = [
      [{ 'list-job': 'sleep' }, /--list-job .* give the list too/],
      [{ 'redis-list': ['q', 'q'] }, /same list is given twice/],
      [{ 'redis-list': [' '] }, /empty one/],
      [{ 'redis-list': ['q'], 'list-job': '' }, /--list-job expects a job name/],
    ]
    for (const [values, message] of cases) expect(() => listsOption(values)).toThrow(message)
  })
})
