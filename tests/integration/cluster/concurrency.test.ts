// How many jobs a node takes from a queue at once (BullMQ's worker concurrency, set live by the
// node): its loop executor's limit while every job it took runs, fewer while some wait in its
// engine for an executor, so jobs it cannot start stay in Redis for other nodes. In-process: one
// node on a real redis-server, its engine in this thread.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { joinCluster, type ClusterNodeHandle } from '../../../cluster/index'
import { LOOP_LIMIT } from '../../../common/defaults'
import { useEngines, waitFor } from '../../helpers/engine'
import { redisMissing, startRedis, type RedisServer } from '../../helpers/redis'

const missing = redisMissing()

/** The node's BullMQ workers, as it sets them (not part of its API). */
const concurrencies = (node: ClusterNodeHandle): number[] => (node as unknown as { workers: { concurrency: number }[] }).workers.map((w) => w.concurrency)

describe.skipIf(missing)('a node takes as many jobs as it can start', () => {
  let redis: RedisServer
  const newEngine = useEngines()
  const nodes: ClusterNodeHandle[] = []
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.leave()))
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('takes up to its loop limit while all run, 64 while some wait in its engine, and its loop limit again once none do', async () => {
    const engine = newEngine({ keepInMemory: 1000 })
    const node = await joinCluster(engine, { redis: redis.url, nodeId: 'fit-1', queues: ['fit'], say: () => {} })
    nodes.push(node)
    expect(concurrencies(node)).toEqual([LOOP_LIMIT])
    // One loop slot: the second and third jobs wait in the engine.
    await engine.setLimits({ loop: 1 })
    const { ids } = await node.submit({ batch: { tasks: [1, 2, 3].map(() => ({ job: 'sleep', params: { ms: 60_000 }, queue: 'fit' })) } })
    await waitFor('two jobs waiting in the engine', async () => (await engine.list({ state: 'pending' })).length === 2)
    await waitFor('fewer jobs taken at once', async () => concurrencies(node)[0] === 64)
    await engine.setLimits({ loop: LOOP_LIMIT })
    await waitFor('all three running', async () => (await engine.list({ state: 'running' })).length === 3)
    await waitFor('its loop limit again', async () => concurrencies(node)[0] === LOOP_LIMIT)
    for (const id of ids) await node.cancel(id)
  })

  it('keeps a concurrency it was given', async () => {
    const engine = newEngine({ keepInMemory: 1000 })
    const node = await joinCluster(engine, { redis: redis.url, nodeId: 'fit-2', queues: ['fit-fixed'], concurrency: 5, say: () => {} })
    nodes.push(node)
    await engine.setLimits({ loop: 1 })
    const { ids } = await node.submit({ batch: { tasks: [1, 2].map(() => ({ job: 'sleep', params: { ms: 60_000 }, queue: 'fit-fixed' })) } })
    await waitFor('one job waiting in the engine', async () => (await engine.list({ state: 'pending' })).length === 1)
    expect(concurrencies(node)).toEqual([5])
    for (const id of ids) await node.cancel(id)
  })
})
