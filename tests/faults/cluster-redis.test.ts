// Redis goes away under running cluster nodes: stopped for 2 s and started again (empty: no
// persistence), or every connection dropped (CLIENT KILL). Nodes live on, say Redis is unreachable
// while it is, reconnect and go on. And a password never shows: not in output, not in the API.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/engine'
import { freePort, REDIS_SERVER, redisMissing, startRedis, type RedisServer } from '../helpers/redis'
import { until, useNodes, type Node } from '../integration/cluster/nodes'

const missing = redisMissing()
if (missing) console.warn(`cluster Redis-fault tests skipped: ${missing}`)

const runsAll = async (via: Node, queue: string, n: number): Promise<void> => {
  const ids = await via.submit({ batch: { tasks: Array.from({ length: n }, (_, i) => ({ job: 'sleep', params: { ms: 10 * i }, queue })) } })
  await waitFor(`${n} tasks done`, async () => (await Promise.all(ids.map((id) => via.get(id)))).every((t) => t.state === 'done'), 60_000)
}

describe.skipIf(missing)('cluster nodes when Redis fails', () => {
  let redis: RedisServer
  const start = useNodes()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-cluster-redis-'))
  writeFileSync(
    path.join(dir, 'jobs.mjs'),
    `export async function wait(params) { await new Promise((r) => setTimeout(r, params.ms)); return 'ok' }`,
  )

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('Redis stopped for 2 s and restarted: no node crashes, the API says unreachable, then they go on', async () => {
    const [a, b] = await Promise.all([start(redis.url, 'a', ['--queue', 'r']), start(redis.url, 'b', ['--queue', 'r'])])
    await runsAll(a, 'r', 4)
    await redis.stop()
    const down = await waitFor('node a to see Redis gone', async () => {
      const info = await a.cluster()
      return !info.connected && info.error !== null && info
    }, 20_000)
    expect(down.error).not.toBe('')
    // A queued submit is refused saying why, a local one still runs.
    const refused = await fetch(`${b.url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job: 'sleep', queue: 'r' }) })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { error: string }).error).toMatch(/cannot queue in Redis/)
    const [local] = await b.submit({ job: 'sleep', params: { ms: 1 } })
    await until(b, local!, 'done', (t) => t.state === 'done')
    await new Promise((r) => setTimeout(r, 2000))
    await redis.restart()
    await waitFor('both nodes back in the view', async () => {
      const info = await a.cluster()
      return info.connected && info.nodes.length === 2
    }, 60_000)
    await runsAll(b, 'r', 6)
    expect(a.child.exitCode).toBeNull()
    expect(b.child.exitCode).toBeNull()
    expect(a.output()).toMatch(/Redis redis:\/\/127\.0\.0\.1:\d+ unreachable/)
    expect(a.output()).toMatch(/reachable again/)
  }, 180_000)

  it('CLIENT KILL of every connection: the running job finishes, the view stays live, new jobs run', async () => {
    const [a, b] = await Promise.all([start(redis.url, 'a', ['--queue', 'here']), start(redis.url, 'b', ['--queue', 'there'])])
    const [id] = await a.submit({ job: `${path.join(dir, 'jobs.mjs')}#wait`, params: { ms: 3000 }, queue: 'there' })
    await until(a, id!, 'running on b', (t) => t.state === 'running' && t.node === 'b')
    redis.cli('CLIENT', 'KILL', 'TYPE', 'normal')
    redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub')
    const done = await until(a, id!, 'done (seen by a)', (t) => t.state === 'done', 60_000)
    expect(done.result).toBe('ok')
    await runsAll(a, 'there', 5)
    expect((await a.cluster()).connected).toBe(true)
    expect(a.child.exitCode).toBeNull()
    expect(b.child.exitCode).toBeNull()
  }, 240_000)

  it('a password works and is never printed nor shown: not by the node, not by the API, not in errors', async () => {
    const password = 'S3cret-pw-7f1e'
    const guarded = await startRedis({ password })
    try {
      const viaFlag = await start(guarded.url, 'p1', ['--queue', 'pw'])
      // TASKLOOP_REDIS_URL keeps the password out of `ps` too.
      const viaEnv = await start('', 'p2', ['--queue', 'pw'], { TASKLOOP_REDIS_URL: guarded.url })
      const info = await viaFlag.cluster()
      expect(info.redis).toBe(`redis://:***@127.0.0.1:${guarded.port}`)
      expect(info.nodes.length).toBeGreaterThanOrEqual(1)
      await runsAll(viaFlag, 'pw', 3)
      await guarded.stop()
      await waitFor('the node to see Redis gone', async () => !(await viaFlag.cluster()).connected, 20_000)
      const afterLoss = await viaFlag.cluster()
      const shown = [viaFlag.output(), viaEnv.output(), JSON.stringify(info), JSON.stringify(afterLoss), JSON.stringify(await viaFlag.list())]
      for (const text of shown) expect(text).not.toContain(password)
      expect(info.nodes.map((n) => n.id)).toEqual(['p1', 'p2'])
    } finally {
      await guarded.stop()
    }
  }, 240_000)

  it('rediss:// (TLS) with a password: the node joins and runs jobs', async () => {
    const cert = path.join(dir, 'cert.pem')
    const key = path.join(dir, 'key.pem')
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
    expect(made.status).toBe(0)
    const port = await freePort()
    const password = 'tls-pw-31337'
    const server = spawn(REDIS_SERVER!, ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no', '--requirepass', password, '--save', '', '--appendonly', 'no'], { stdio: 'ignore', detached: true })
    try {
      const url = `rediss://:${password}@127.0.0.1:${port}`
      // The node trusts the test's own certificate authority.
      const node = await start(url, 'tls', ['--queue', 'secure'], { NODE_EXTRA_CA_CERTS: cert })
      const info = await node.cluster()
      expect(info.connected).toBe(true)
      expect(info.redis).toBe(`rediss://:***@127.0.0.1:${port}`)
      await runsAll(node, 'secure', 3)
      expect(node.output()).not.toContain(password)
    } finally {
      process.kill(-server.pid!, 'SIGKILL')
    }
  }, 240_000)

  it('a wrong password: the node runs, says Redis refuses it, and shows no password', async () => {
    const guarded = await startRedis({ password: 'right-one-9' })
    try {
      const wrong = guarded.url.replace('right-one-9', 'wrong-one-9')
      const node = await start(wrong, 'w', [], undefined, { joined: false })
      const info = await waitFor('the refusal', async () => {
        const i = await node.cluster()
        return i.error !== null && i
      }, 20_000)
      expect(info.connected).toBe(false)
      expect(info.error).toMatch(/WRONGPASS|NOAUTH|invalid/i)
      for (const text of [node.output(), JSON.stringify(info)]) expect(text).not.toMatch(/wrong-one-9|right-one-9/)
    } finally {
      await guarded.stop()
    }
  }, 120_000)
})
