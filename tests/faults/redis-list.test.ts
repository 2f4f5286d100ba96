// The notes' Redis-list worker with a real redis-server and real `taskloop serve`
// processes: items become tasks in list order, a node killed with SIGKILL mid-item runs that item
// again at its next start (and nothing else twice), a Redis restart or a dropped connection is
// ridden out, a plain item with no --list-job is refused and kept aside, not lost.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defaultNodeId, listKeys } from '../../cluster/redis-list'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { redisMissing, startRedis, type RedisServer } from '../helpers/redis'
import { useCli } from '../helpers/cli'
import { api, serve, type ServeProcess } from './serve-process'

const missing = redisMissing()
if (missing) console.warn(`skipping the Redis-list tests: ${missing}`)

let redis: RedisServer
beforeAll(async () => {
  if (!missing) redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

const started: ServeProcess[] = []
afterEach(async () => {
  for (const s of started.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    await s.exited
  }
  redis?.cli('FLUSHALL')
})

/** waitFor with a bound for a busy machine. */
const until = <T,>(what: string, probe: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> => waitFor(what, probe, ms)

const newDataDir = (): string => mkdtempSync(path.join(os.tmpdir(), 'taskloop-list-'))

async function node(dataDir: string, args: string[]): Promise<ServeProcess> {
  const s = await serve(dataDir, ['--shutdown-grace-ms', '1000', '--redis', redis.url, ...args], { startMs: 120_000 })
  started.push(s)
  await until('the list consumer to start', async () => s.output().includes('Consuming Redis list'), 120_000)
  return s
}

const tasks = async (s: ServeProcess): Promise<TaskSnapshot[]> => (await api<{ tasks: TaskSnapshot[] }>(s.url, 'GET', '/api/tasks')).tasks

/** Waits until `n` tasks are final, and returns every task in creation order. */
const finals = (s: ServeProcess, n: number, timeoutMs = 60_000): Promise<TaskSnapshot[]> =>
  until(
    `${n} tasks final`,
    async () => {
      const all = await tasks(s)
      return all.filter((t) => ['done', 'failed', 'cancelled'].includes(t.state)).length >= n && all
    },
    timeoutMs,
  )

const lrange = (key: string): string[] => redis.cli('LRANGE', key, '0', '-1').split('\n').filter(Boolean)

// Real serve processes on a shared, busy machine: generous bounds.
describe.skipIf(missing)('taskloop serve --redis-list', { timeout: 180_000 }, () => {
  it('runs JSON task specs and plain items (params.item of --list-job) in the order they were pushed', async () => {
    const dataDir = newDataDir()
    const s = await node(dataDir, ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    // One at a time: the start order is the list's order.
    await api(s.url, 'POST', '/api/limits', { limits: { loop: 1 } })
    const items = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0 ? JSON.stringify({ name: `json ${i}`, job: 'sleep', params: { ms: 5 } }) : `0.00${i % 10}`,
    )
    // LPUSH producers, as the notes have them: the first pushed is the first taken.
    for (const item of items) redis.cli('LPUSH', 'queue', item)
    const all = await finals(s, items.length)
    expect(all.map((t) => t.state)).toEqual(items.map(() => 'done'))
    expect(all.map((t) => t.name)).toEqual(items.map((item, i) => (i % 3 === 0 ? `json ${i}` : `queue: ${item}`)))
    const plain = all.find((t) => t.name === 'queue: 0.001')!
    expect(plain.spec).toMatchObject({ job: 'sleep-seconds', params: { item: '0.001' } })
    expect(plain.result).toEqual({ seconds: 0.001 })
    // A cluster task: every node's view shows where it came from and where it ran.
    expect(plain).toMatchObject({ queue: 'list:queue', node: defaultNodeId(dataDir) })
    const starts = all.map((t) => t.startedAt!)
    expect(starts).toEqual([...starts].sort((a, b) => a - b))
    // Every item left the processing list once its task ended.
    const keys = listKeys(defaultNodeId(dataDir), 'queue')
    await until('the processing list to empty', async () => lrange(keys.processing).length === 0)
    expect(redis.cli('HLEN', keys.tasks).trim()).toBe('0')
    expect(lrange('queue')).toEqual([])
  })

  it('kill -9 mid-item: the item stays in the processing list and runs again at the next start, nothing else twice', async () => {
    const dataDir = newDataDir()
    const first = await node(dataDir, ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    for (const item of ['0.01', '0.02', '0.03']) redis.cli('LPUSH', 'queue', item)
    await finals(first, 3)
    // An item leaves the processing list just after its task's final state: wait for that, so the
    // kill below finds only the long item there (a finished one left behind is not run again either).
    const keys = listKeys(defaultNodeId(dataDir), 'queue')
    await until('the finished items to leave the processing list', async () => lrange(keys.processing).length === 0)
    redis.cli('LPUSH', 'queue', '2.5')
    const killed = await until('the long item to run', async () => (await tasks(first)).find((t) => t.name === 'queue: 2.5' && t.state === 'running'))
    first.child.kill('SIGKILL')
    await first.exited
    expect(lrange(keys.processing)).toEqual(['2.5'])

    const second = await node(dataDir, ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    const all = await until('the item to run again and finish', async () => {
      const now = await tasks(second)
      return now.some((t) => t.name === 'queue: 2.5' && t.state === 'done') && now
    })
    const byName = (name: string) => all.filter((t) => t.name === name)
    expect(byName('queue: 2.5').map((t) => [t.state, t.reason])).toEqual(
      expect.arrayContaining([
        ['failed', 'interrupted'],
        ['done', null],
      ]),
    )
    expect(byName('queue: 2.5').find((t) => t.state === 'done')!.id).not.toBe(killed.id)
    for (const name of ['queue: 0.01', 'queue: 0.02', 'queue: 0.03']) expect(byName(name)).toHaveLength(1)
    await until('the processing list to empty', async () => lrange(keys.processing).length === 0)
  })

  it('SIGTERM with one item running and two waiting: the next start runs each of the three once more, nothing twice', async () => {
    const dataDir = newDataDir()
    const first = await node(dataDir, ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    redis.cli('LPUSH', 'queue', '30')
    await until('the long item to run', async () => (await tasks(first)).some((t) => t.state === 'running'))
    // Paused intake: the next items become tasks that wait (pending), as behind a busy executor.
    await api(first.url, 'POST', '/api/pause')
    for (const item of ['0.01', '0.02']) redis.cli('LPUSH', 'queue', item)
    await until('two pending', async () => (await tasks(first)).filter((t) => t.state === 'pending').length === 2)
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const keys = listKeys(defaultNodeId(dataDir), 'queue')
    expect(lrange(keys.processing).sort()).toEqual(['0.01', '0.02', '30'])

    const second = await node(dataDir, ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    const all = await until(
      'the two short items done and the long one running again',
      async () => {
        const now = await tasks(second)
        const named = (name: string) => now.filter((t) => t.name === name)
        return named('queue: 0.01').some((t) => t.state === 'done') && named('queue: 0.02').some((t) => t.state === 'done') && named('queue: 30').some((t) => t.state === 'running') && now
      },
      60_000,
    )
    // A list item's task is the cluster's: the stop ended the first tasks (none of them done), and
    // the processing list ran each item once more.
    for (const name of ['queue: 0.01', 'queue: 0.02', 'queue: 30']) {
      const runs = all.filter((t) => t.name === name)
      expect(runs).toHaveLength(2)
      expect(runs[0]!.state === 'failed' || runs[0]!.state === 'cancelled').toBe(true)
    }
    await until('only the running item left in the processing list', async () => lrange(keys.processing).join() === '30')
  })

  it('a Redis restart and a dropped connection: no crash, consumption goes on', async () => {
    const s = await node(newDataDir(), ['--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    redis.cli('LPUSH', 'queue', '0.01')
    await finals(s, 1)
    await redis.stop()
    await new Promise((r) => setTimeout(r, 2000))
    await redis.restart()
    redis.cli('LPUSH', 'queue', '0.02')
    await finals(s, 2)
    redis.cli('CLIENT', 'KILL', 'TYPE', 'normal')
    redis.cli('LPUSH', 'queue', '0.03')
    const all = await finals(s, 3)
    expect(all.map((t) => [t.name, t.state])).toEqual([
      ['queue: 0.01', 'done'],
      ['queue: 0.02', 'done'],
      ['queue: 0.03', 'done'],
    ])
    expect(s.child.exitCode).toBeNull()
    expect(s.output()).toMatch(/Redis \S+ unreachable/)
    await until('the node to say Redis is back', async () => /Redis \S+ reachable again/.test(s.output()))
  })

  it('a plain item without --list-job is refused, said, and kept in taskloop:list-refused:KEY', async () => {
    const s = await node(newDataDir(), ['--redis-list', 'jobs'])
    redis.cli('LPUSH', 'jobs', 'not a spec')
    redis.cli('LPUSH', 'jobs', JSON.stringify({ name: 'a spec', job: 'sleep', params: { ms: 1 } }))
    redis.cli('LPUSH', 'jobs', JSON.stringify({ job: 'sleep', params: { ms: -1 } }))
    const all = await finals(s, 1)
    expect(all.map((t) => [t.name, t.state])).toEqual([['a spec', 'done']])
    await until('both refusals', async () => lrange(listKeys('-', 'jobs').refused).length === 2)
    expect(lrange(listKeys('-', 'jobs').refused)).toEqual([JSON.stringify({ job: 'sleep', params: { ms: -1 } }), 'not a spec'])
    expect(s.output()).toContain('item "not a spec" refused (moved to taskloop:list-refused:jobs): not a JSON task spec, and no --list-job')
    expect(s.output()).toMatch(/params\.ms.*0 or more/)
  })
})

describe('taskloop serve --redis-list without --redis', () => {
  const cli = useCli()
  it('is refused before anything starts (exit 2, saying why)', async () => {
    const run = cli(['serve', '--no-store', '--no-auth', '--port', '0', '--redis-list', 'queue', '--list-job', 'sleep-seconds'])
    expect(await run.exited).toBe(2)
    expect(run.stderr()).toContain('--redis-list is for a cluster node: give --redis URL too')
  })
})
