// The Redis-list flags of `taskloop serve` (cli/args.ts): checked before anything starts.
import { describe, expect, it } from 'vitest'
import { redisListsOption, UsageError } from '../../../cli/args'

describe('redisListsOption', () => {
  it('gives the lists, the job and the URL', () => {
    expect(redisListsOption({ redis: 'redis://127.0.0.1:6379', 'redis-list': ['queue', 'other'], 'list-job': 'sleep-seconds' })).toEqual({
      redis: 'redis://127.0.0.1:6379',
      lists: ['queue', 'other'],
      listJob: 'sleep-seconds',
    })
    expect(redisListsOption({ redis: 'rediss://:secret@host:6380', 'redis-list': ['q'] })).toMatchObject({ listJob: null })
    expect(redisListsOption({ redis: 'redis://h:1' })).toBeNull()
    expect(redisListsOption({})).toBeNull()
  })

  it('refuses what cannot work, saying why', () => {
    const cases: [Parameters<typeof redisListsOption>[0], RegExp][] = [
      [{ 'redis-list': ['q'] }, /--redis-list needs --redis URL/],
      [{ redis: 'redis://h:1', 'list-job': 'sleep' }, /--list-job .* give the list too/],
      [{ redis: 'http://h:1', 'redis-list': ['q'] }, /redis:\/\/ or rediss:\/\/ URL, got http:/],
      [{ redis: 'redis://h:1', 'redis-list': ['q', 'q'] }, /same list is given twice/],
      [{ redis: 'redis://h:1', 'redis-list': [' '] }, /empty one/],
    ]
    for (const [values, message] of cases) expect(() => redisListsOption(values)).toThrow(message)
    expect(() => redisListsOption({ redis: 'not a url :secret' })).toThrow(UsageError)
    // A URL that does not parse may hold a password: the message does not repeat it.
    expect(() => redisListsOption({ redis: 'not a url :secret' })).not.toThrow(/secret/)
  })
})
