// Back-pressure of the Redis-list consumer (cluster/redis-list.ts) on a real engine and a real
// redis-server: a node takes no more items than the list job's executor runs at once; the rest
// wait in Redis (for this node later, or another node), not as pending tasks here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consumeLists, listKeys } from '../../../cluster/redis-list'
import { Engine } from '../../../engine/engine'
import { waitFor } from '../../helpers/engine'
import { redisMissing, startRedis, type RedisServer } from '../../helpers/redis'

const missing = redisMissing()
if (missing) console.warn(`skipping the Redis-list back-pressure test: ${missing}`)

let redis: RedisServer
beforeAll(async () => {
  if (!missing) redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

describe.skipIf(missing)('consumeLists', () => {
  it('keeps at most the executor limit of items in flight; the others stay in the list', async () => {
    const engine = new Engine({ limits: { loop: 2 } })
    const errors: string[] = []
    const lists = await consumeLists(engine, { redis: redis.url, nodeId: 'n1', lists: ['q'], listJob: 'sleep-seconds', onError: (e) => errors.push(e.message) })
    try {
      redis.cli('LPUSH', 'q', ...Array.from({ length: 8 }, () => '0.3'))
      await waitFor('two running', async () => (await engine.list()).filter((t) => t.state === 'running').length === 2)
      // Give it time to take more, were it to.
      await new Promise((r) => setTimeout(r, 150))
      expect((await engine.list()).length).toBe(2)
      expect(redis.cli('LLEN', 'q').trim()).toBe('6')
      expect(redis.cli('LLEN', listKeys('n1', 'q').processing).trim()).toBe('2')
      await waitFor('all eight done', async () => (await engine.list()).filter((t) => t.state === 'done').length === 8, 30_000)
      await waitFor('the processing list empty', async () => redis.cli('LLEN', listKeys('n1', 'q').processing).trim() === '0')
      expect(errors).toEqual([])
    } finally {
      await lists.stop()
      await engine.shutdown()
    }
  })
})
