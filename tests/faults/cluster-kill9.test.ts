// kill -9 of a cluster node while it runs a queued job: BullMQ's stalled check (seconds, as
// Taskloop sets it) hands the job to another node, which follows the spec's onInterrupt; the dead
// node's heartbeat lapses and it leaves every node's view.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/engine'
import { redisMissing, startRedis, type RedisServer } from '../helpers/redis'
import { until, useNodes } from '../integration/cluster/nodes'

const missing = redisMissing()
if (missing) console.warn(`cluster kill -9 tests skipped: ${missing}`)

describe.skipIf(missing)('kill -9 of a cluster node mid-job', () => {
  let redis: RedisServer
  const start = useNodes()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-cluster-kill9-'))
  const jobs = path.join(dir, 'jobs.mjs')
  // Notes each start (with the node's pid), then works for `ms`.
  writeFileSync(
    jobs,
    `import { appendFileSync } from 'node:fs'
export async function slow(params, ctx) {
  appendFileSync(params.file, 'start ' + process.pid + '\\n')
  await new Promise((resolve, reject) => {
    const t = setTimeout(resolve, params.ms)
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')) })
  })
  return 'finished'
}`,
  )

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('a node stopped with SIGTERM leaves its running job (onInterrupt "requeue") to another node', async () => {
    const queue = 'k-stop'
    const nodes = await Promise.all(['a', 'b'].map((id) => start(redis.url, `${id}-stop`, ['--queue', queue])))
    const file = path.join(dir, 'stop.txt')
    const [id] = await nodes[0]!.submit({ job: `${jobs}#slow`, params: { file, ms: 4000 }, queue, onInterrupt: 'requeue' })
    const running = await until(nodes[0]!, id!, 'running', (t) => t.state === 'running')
    const leaving = nodes.find((n) => n.id === running.node)!
    const other = nodes.find((n) => n !== leaving)!
    leaving.child.kill('SIGTERM')
    expect(await leaving.exited).toBe(0)
    const done = await until(other, id!, `done on ${other.id}`, (t) => t.state === 'done' && t.node === other.id, 60_000)
    expect(done.result).toBe('finished')
    // A node that stops leaves the view at once (it removes its heartbeat).
    expect((await other.cluster()).nodes.map((n) => n.id)).toEqual([other.id])
  }, 180_000)

  for (const onInterrupt of ['requeue', 'fail'] as const) {
    it(`onInterrupt "${onInterrupt}": ${onInterrupt === 'requeue' ? 'runs again on the other node' : 'fails "interrupted", never runs again'}`, async () => {
      const queue = `k-${onInterrupt}`
      const nodes = await Promise.all(['a', 'b'].map((id) => start(redis.url, `${id}-${onInterrupt}`, ['--queue', queue])))
      const file = path.join(dir, `${onInterrupt}.txt`)
      const [id] = await nodes[0]!.submit({ job: `${jobs}#slow`, params: { file, ms: 4000 }, queue, onInterrupt })
      const running = await until(nodes[0]!, id!, 'running', (t) => t.state === 'running')
      const victim = nodes.find((n) => n.id === running.node)!
      const other = nodes.find((n) => n !== victim)!
      const killedAt = Date.now()
      await victim.kill9()
      if (onInterrupt === 'requeue') {
        const rerun = await until(other, id!, `running again on ${other.id}`, (t) => t.node === other.id && t.state !== 'pending', 60_000)
        console.log(`kill -9 → running again on the other node after ${rerun.startedAt! - killedAt} ms (stalled interval 1000 ms)`)
        const done = await until(other, id!, 'done', (t) => t.state === 'done', 60_000)
        expect(done.result).toBe('finished')
        expect(done.attempt).toBe(2)
        expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2)
      } else {
        const failed = await until(other, id!, 'failed interrupted', (t) => t.state === 'failed', 60_000)
        expect(failed.reason).toBe('interrupted')
        expect(failed.error?.message).toMatch(/onInterrupt "fail"/)
        await new Promise((r) => setTimeout(r, 2000))
        expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1)
        expect((await other.cluster()).queues.find((q) => q.name === queue)).toMatchObject({ active: 0, waiting: 0, failed: 1 })
      }
      // Three missed heartbeats (2 s each) and the dead node is gone from the view.
      await waitFor(`${victim.id} to leave the view`, async () => !(await other.cluster()).nodes.some((n) => n.id === victim.id), 30_000)
      expect((await other.cluster()).nodes.map((n) => n.id)).toEqual([other.id])
    }, 180_000)
  }
})
