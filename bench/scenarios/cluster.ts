// 10. The cluster side, on one real redis-server started for the scenario:
//  (a) the notes' Redis-list worker: Taskloop's list consumer (each item a tracked task of the full
//      engine, moved through a per-node processing list) against a bare BLMOVE + LREM loop, N items;
//  (b) bare BullMQ: one Worker at concurrency 16, no-op jobs: throughput, and enqueue → processor
//      start, one job at a time (p50, p95);
//  (c) Taskloop nodes on BullMQ: two `taskloop serve --redis` processes, 20k tiny tasks through
//      the cluster with full tracking, enqueue → start, and a cancel sent to one node of a task
//      running on the other, until `cancelled` is seen through an API (see clusterNodes below).
// Skipped, saying why, when redis-server is not installed.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { Redis as RedisClient } from 'ioredis'
import { consumeLists, listKeys, type ListConsumer } from '../../cluster/redis-list'
import type { ClusterInfo, TaskDetail } from '../../common/types'
import { Engine } from '../../engine/engine'
import { redisMissing, startRedis, type RedisServer } from '../../tests/helpers/redis'
import { BENCH_DIR, EngineProbe, job, measure, median, percentile, sleep, throughputRows, withTimeout, type Contender, type Row, type Scenario } from '../harness'

const ROOT = path.resolve(BENCH_DIR, '..')
const PUSH_CHUNK = 1000

/**
 * Warm-up runs before the timed run of (b) and of (c), the same for both: runs of as many jobs as
 * the timed one. A node is warm only after tens of thousands of tasks. After a warm-up of 1,000,
 * one node's V8 platform threads took ~80 µs per task through the next 10,000 (its main thread
 * ~105, its engine thread ~55), ~30 through the 10,000 after; mostly compiling, not collecting (as
 * much with --single-threaded-gc). After one warm-up run of 20,000 they still took 9-14 µs per
 * task (four threads) through the next 20,000, TurboFan still compiling the nodes' hot functions
 * (V8's --log-function-events: ~100 compiles from the timed run on); after four runs, 4-6, and the nodes'
 * whole CPU per task was a third less. Bare BullMQ's process, little code, changed by less than the
 * noise. Three runs: a node as it is after a minute of work, not in its first seconds.
 */
const WARM_RUNS = 3
const warmUpNote = (n: number): string => `after a warm-up of ${WARM_RUNS} runs of ${n.toLocaleString('en-US')}`

async function connect(url: string): Promise<RedisClient> {
  const { Redis } = await import('ioredis')
  return new Redis(url, { maxRetriesPerRequest: null })
}

/** LPUSH producers, as in the notes: n items in chunks, one round trip per chunk. */
async function push(producer: RedisClient, key: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += PUSH_CHUNK) {
    const items: string[] = []
    for (let i = from; i < Math.min(n, from + PUSH_CHUNK); i++) items.push(String(i))
    await producer.lpush(key, ...items)
  }
}

let lists = 0

/** CPU time a process (redis-server, a node) has used so far, ms (Linux /proc; null elsewhere): its share of each item's cost. */
function processCpuMs(pid: number): number | null {
  return statCpuMs(`/proc/${pid}/stat`)
}

/** The same for one thread of a node: its main thread (the tid that is its pid: BullMQ, the server, the cluster view). */
function mainThreadCpuMs(pid: number): number | null {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`)
}

/**
 * CPU so far of each thread of a process, summed per thread name (/proc/PID/task/TID/comm: the
 * main thread is named after the process, worker threads after their name or "node", V8's own
 * "V8 DefaultWorke" and libuv's "libuv-worker"), ms; {} off Linux. A thread that ended between two
 * reads is missing from the later one: its CPU counts in neither.
 */
function threadCpuMs(pid: number): Map<string, number> {
  const byName = new Map<string, number>()
  let tids: string[] = []
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return byName
  }
  for (const tid of tids) {
    const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`)
    if (ms === null) continue
    let name = '?'
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
    } catch {
      continue
    }
    // Node's threads are all "node" but the main one: told apart by their order of creation (V8's
    // platform threads first, then libuv's and the workers: the engine thread, the pools').
    name = tid === String(pid) ? 'main' : `${name}#${Number(tid) - pid}`
    byName.set(name, (byName.get(name) ?? 0) + ms)
  }
  return byName
}

/** Per task of a run of n, each thread name's CPU between two threadCpuMs reads, largest first: "main 88, engine 40, …" µs. */
function threadNote(n: number, before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([name, ms]) => [name, ((ms - (before.get(name) ?? 0)) / n) * 1000] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((x, y) => y[1] - x[1])
    .map(([name, us]) => `${name} ${us.toFixed(0)}`)
    .join(', ')
}

function statCpuMs(file: string): number | null {
  try {
    const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the command), in clock ticks (100 Hz).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return null
  }
}

/** CPU per job of this process and of redis-server over a run of n jobs. */
function cpuNote(n: number, own: NodeJS.CpuUsage, redisBefore: number | null, redisAfter: number | null, what: string): string {
  const redis = redisBefore === null || redisAfter === null ? '?' : (((redisAfter - redisBefore) / n) * 1000).toFixed(0)
  return `CPU per job: ${what} ${((own.user + own.system) / n).toFixed(0)} µs, redis-server ${redis} µs`
}

/** Commands redis-server ran (Lua scripts' own calls included) and bytes in and out, so far: what a run asks of Redis, the load aside. */
function redisTraffic(server: RedisServer): { calls: number; bytesIn: number; bytesOut: number; byCommand: Map<string, number> } {
  const info = server.cli('info', 'all')
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0)
  let calls = 0
  const byCommand = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls += Number(m[2])
    byCommand.set(m[1]!, Number(m[2]))
  }
  return { calls, bytesIn: field('total_net_input_bytes'), bytesOut: field('total_net_output_bytes'), byCommand }
}

/** Per job of a run of n: redis-server's commands (the most called by name) and bytes (redisTraffic before and after). */
function trafficNote(n: number, before: ReturnType<typeof redisTraffic>, after: ReturnType<typeof redisTraffic>): string {
  const per = (k: 'calls' | 'bytesIn' | 'bytesOut'): string => ((after[k] - before[k]) / n).toFixed(0)
  const names = [...after.byCommand]
    .map(([name, calls]) => [name, (calls - (before.byCommand.get(name) ?? 0)) / n] as const)
    .filter(([, each]) => each >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, each]) => `${name} ${each.toFixed(1)}`)
  return `redis-server per job: ${per('calls')} commands (scripts' included: ${names.join(', ')}), ${per('bytesIn')} B in, ${per('bytesOut')} B out`
}

/** Adds redis-server's CPU per item to each run of a contender. */
function withRedisCpu(c: Contender, pid: () => number, spent: number[]): Contender {
  return {
    name: c.name,
    async open() {
      const session = await c.open()
      return {
        async run(n) {
          const before = processCpuMs(pid())
          await session.run(n)
          const after = processCpuMs(pid())
          if (before !== null && after !== null) spent.push(((after - before) / n) * 1000)
        },
        close: () => session.close(),
      }
    },
  }
}

/** (a) Taskloop: the list consumer submitting every item to the full engine (a subscriber hears every task). */
function listConsumer(url: string): Contender {
  return {
    name: 'Taskloop --redis-list (processing list, a task per item)',
    async open() {
      const key = `bench-tl-${++lists}`
      const engine = new Engine({ keepInMemory: Infinity })
      const probe = new EngineProbe(engine)
      const producer = await connect(url)
      const consumer: ListConsumer = await consumeLists(engine, {
        redis: url,
        nodeId: 'bench',
        lists: [key],
        listJob: job('noop'),
        onError: (e) => console.error(`  ! ${e.message}`),
      })
      const processing = listKeys('bench', key).processing
      let submitted = 0
      const run = async (n: number): Promise<void> => {
        await push(producer, key, n)
        submitted += n
        await probe.until(submitted)
        // Done means out of the processing list too (the LREM after each task's end).
        while ((await producer.llen(processing)) > 0) await sleep(1)
      }
      await run(100)
      return {
        run,
        async close() {
          await consumer.stop()
          probe.unsubscribe()
          await engine.shutdown()
          producer.disconnect()
        },
      }
    },
  }
}

/** (a) The floor: one connection, BLMOVE an item to a processing list, LREM it, next. */
function bareBlmove(url: string): Contender {
  return {
    name: 'bare BLMOVE + LREM loop (ioredis)',
    async open() {
      const key = `bench-bare-${++lists}`
      const processing = `${key}:processing`
      const [consumer, producer] = await Promise.all([connect(url), connect(url)])
      const run = async (n: number): Promise<void> => {
        const consumed = (async () => {
          for (let got = 0; got < n; ) {
            const item = await consumer.blmove(key, processing, 'RIGHT', 'LEFT', 1)
            if (item === null) continue
            await consumer.lrem(processing, 1, item)
            got++
          }
        })()
        await push(producer, key, n)
        await consumed
      }
      await run(100)
      return {
        run,
        async close() {
          consumer.disconnect()
          producer.disconnect()
        },
      }
    },
  }
}

/** (b) Bare BullMQ, as its docs start one: a Queue, a Worker at concurrency 16, no-op processor. */
async function bareBullmq(server: RedisServer, n: number, probes: number): Promise<Row[]> {
  const { url, pid: redisPid } = server
  const { Queue, Worker } = await import('bullmq')
  const name = `bench-bull-${Date.now()}`
  const connection = { host: '127.0.0.1', port: Number(new URL(url).port), maxRetriesPerRequest: null }
  const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } })
  let started: ((at: number) => void) | null = null
  let completed = 0
  let allDone: (() => void) | null = null
  let want = 0
  const worker = new Worker(
    name,
    async () => {
      started?.(performance.now())
    },
    { connection, concurrency: 16 },
  )
  worker.on('completed', () => {
    if (++completed >= want) allDone?.()
  })
  await worker.waitUntilReady()
  try {
    const throughput = async (count: number): Promise<number> => {
      completed = 0
      want = count
      const done = new Promise<void>((r) => (allDone = r))
      const t0 = performance.now()
      for (let from = 0; from < count; from += PUSH_CHUNK) {
        const size = Math.min(PUSH_CHUNK, count - from)
        await queue.addBulk(Array.from({ length: size }, (_, i) => ({ name: 'noop', data: { i: from + i } })))
      }
      await withTimeout(done, `BullMQ: ${count} jobs completed`)
      return performance.now() - t0
    }
    for (let i = 0; i < WARM_RUNS; i++) await throughput(n)
    const traffic0 = redisTraffic(server)
    const cpu0 = [process.cpuUsage(), processCpuMs(redisPid)] as const
    const ms = await throughput(n)
    const cpu = cpuNote(n, process.cpuUsage(cpu0[0]), cpu0[1], processCpuMs(redisPid), 'this process (adds and worker)')
    const traffic = trafficNote(n, traffic0, redisTraffic(server))
    // Enqueue → processor start, one job at a time on an idle worker: latency, not backlog.
    const latencies: number[] = []
    for (let i = 0; i < probes; i++) {
      const t0 = performance.now()
      const at = new Promise<number>((r) => (started = r))
      await queue.add('probe', { i })
      latencies.push((await at) - t0)
      started = null
    }
    return [
      {
        scenario: '10b. bare BullMQ Worker, concurrency 16, no-op jobs',
        contender: `BullMQ ${n.toLocaleString('en-US')} jobs`,
        medianMs: ms,
        opsPerSec: (n / ms) * 1000,
        vsPeer: `enqueue → start p50 ${median(latencies).toFixed(2)} ms, p95 ${percentile(latencies, 95).toFixed(2)} ms`,
        goal: '',
        met: null,
        note: `one run ${warmUpNote(n)}; ${probes} single-job probes; removeOnComplete; ${cpu}; ${traffic}; a bare Worker measured here earlier: ~10.4k jobs/s, p50 2.0 ms, p95 4.9 ms`,
      },
    ]
  } finally {
    await worker.close()
    await queue.obliterate({ force: true }).catch(() => {})
    await queue.close()
  }
}

// ── (c) Taskloop nodes on BullMQ ──────────────────────────────────────────────────────────────────
// Written to the cluster contract (docs/ARCHITECTURE.md, "Cluster"): `serve --redis URL` joins
// the cluster and serves the BullMQ queue `taskloop`; a spec with `"queue": "taskloop"` submitted
// to any node becomes a BullMQ job whose id is the task id; GET /api/tasks/:id on any node shows
// it with its `node`; POST /api/tasks/:id/cancel on any node stops it wherever it runs.

interface Node {
  child: ChildProcess
  url: string
  exited: Promise<unknown>
}

/**
 * Each node is `taskloop serve` as a user starts it, bin/taskloop.mjs (the built CLI; scenario 9's
 * server too), not the TypeScript sources through tsx: those run with source maps on, and a node's
 * first error stack read (its first cancelled job's) parsed the engine thread's map, 150-200 ms.
 * The nodes run the checkout at BENCH_NODE_ROOT (default this one): an A/B of two trees' nodes
 * under one driver. Extra Node flags for each node (BENCH_NODE_ARGS, split on spaces; `{id}` becomes the node's id),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof-{id}` to profile both nodes.
 */
const nodeArgs = (id: string): string[] => (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean).map((a) => a.replaceAll('{id}', id))

async function startNode(redisUrl: string, id: string): Promise<Node> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `taskloop-bench-${id}-`))
  const child = spawn(
    process.execPath,
    [...nodeArgs(id), 'bin/taskloop.mjs', 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir, '--redis', redisUrl, '--node-id', id],
    { cwd: process.env.BENCH_NODE_ROOT ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const exited = new Promise((r) => child.once('exit', r)).finally(() => rmSync(dataDir, { recursive: true, force: true }))
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const deadline = Date.now() + 60_000
  for (;;) {
    const url = /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1]
    if (url) return { child, url, exited }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve --redis did not start: ${out.trim().split('\n').slice(-3).join(' | ')}`)
    await sleep(50)
  }
}

/**
 * The driver's HTTP client: node:http on kept-alive connections, not fetch. fetch (undici) took
 * ~0.5 ms of this process's own time before a POST left and as much again after its answer came,
 * inside the spans the rows time (the bare row's span starts at queue.add(), in process).
 */
const agent = new http.Agent({ keepAlive: true })

function call<T>(node: Node, method: string, p: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body)
    // Every POST says JSON, a bodiless one too (the server refuses a POST that does not).
    const headers = { 'content-type': 'application/json', 'content-length': data === undefined ? 0 : Buffer.byteLength(data) }
    const req = http.request(node.url + p, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        const status = res.statusCode ?? 0
        if (status < 200 || status >= 300) return reject(new Error(`${method} ${p}: ${status} ${text}`))
        try {
          resolve((text ? JSON.parse(text) : null) as T)
        } catch {
          resolve(null as T)
        }
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

const waitFinal = async (node: Node, id: string): Promise<TaskDetail> => {
  for (;;) {
    const t = await call<TaskDetail>(node, 'GET', `/api/tasks/${id}?waitMs=10000`)
    if (['done', 'failed', 'cancelled'].includes(t.state)) return t
  }
}

async function clusterNodes(server: RedisServer, n: number, bullmqOps: number | null): Promise<Row[]> {
  const { url: redisUrl, pid: redisPid } = server
  const nodes = await Promise.all([startNode(redisUrl, 'bench-1'), startNode(redisUrl, 'bench-2')])
  const [a, b] = nodes as [Node, Node]
  try {
    const spec = (i: number) => ({ name: `tiny ${i}`, job: job('noop'), queue: 'taskloop' })
    const submitAll = async (count: number): Promise<string[]> => {
      const ids: string[] = []
      for (let from = 0; from < count; from += PUSH_CHUNK) {
        const tasks = Array.from({ length: Math.min(PUSH_CHUNK, count - from) }, (_, i) => spec(from + i))
        ids.push(...(await call<{ ids: string[] }>((from / PUSH_CHUNK) % 2 ? b : a, 'POST', '/api/tasks', { batch: { tasks } })).ids)
      }
      return ids
    }
    const throughput = async (count: number): Promise<number> => {
      const t0 = performance.now()
      const ids = await submitAll(count)
      // BullMQ's counts first (cheap to ask while 20k wait), then every task final in node a's view.
      const settled = async (): Promise<boolean> => {
        const info = await call<ClusterInfo>(a, 'GET', '/api/cluster')
        const q = info.queues.find((x) => x.name === 'taskloop')
        if (q && q.waiting + q.active + q.delayed + q.prioritized > 0) return false
        for (const state of ['pending', 'running', 'cancelling']) {
          if ((await call<{ tasks: unknown[] }>(a, 'GET', `/api/tasks?state=${state}`)).tasks.length > 0) return false
        }
        return true
      }
      // The last one submitted final first (a blocking read, no polling: the nodes' CPU is the
      // figure), then the rest checked; most are final by then.
      await withTimeout(
        (async () => {
          await waitFinal(a, ids[ids.length - 1]!)
          while (!(await settled())) await sleep(20)
        })(),
        'cluster: every task final',
      )
      return performance.now() - t0
    }
    for (let i = 0; i < WARM_RUNS; i++) await throughput(n)
    const nodes0 = nodes.map((node) => processCpuMs(node.child.pid!))
    const mains0 = nodes.map((node) => mainThreadCpuMs(node.child.pid!))
    const threads0 = nodes.map((node) => threadCpuMs(node.child.pid!))
    const traffic0 = redisTraffic(server)
    const redis0 = processCpuMs(redisPid)
    const ms = await throughput(n)
    const traffic = trafficNote(n, traffic0, redisTraffic(server))
    const ops = (n / ms) * 1000
    const perTask = (before: number | null, after: number | null): string => (before === null || after === null ? '?' : (((after - before) / n) * 1000).toFixed(0))
    const nodesCpu = nodes.map((node, i) => perTask(nodes0[i]!, processCpuMs(node.child.pid!))).join(' + ')
    const mainsCpu = nodes.map((node, i) => perTask(mains0[i]!, mainThreadCpuMs(node.child.pid!))).join(' + ')
    const redisCpu = perTask(redis0, processCpuMs(redisPid))
    const threadsCpu = nodes.map((node, i) => `${node === a ? 'bench-1' : 'bench-2'}: ${threadNote(n, threads0[i]!, threadCpuMs(node.child.pid!))}`).join('; ')

    // Enqueue → start, one at a time: the task's own startedAt against the submit (both on this
    // machine's ms clock). The span is longer than the bare row's (before queue.add() → processor
    // entry): it also holds the HTTP POST up to the node's add, and after the processor is called,
    // the node's cancel check, the hop to the engine thread and the store write that come before
    // `running`. The POST's own round trip is given beside it (its answer waits for BullMQ's add).
    const starts: number[] = []
    const posts: number[] = []
    for (let i = 0; i < 200; i++) {
      const t0 = Date.now()
      const p0 = performance.now()
      const [id] = (await call<{ ids: string[] }>(a, 'POST', '/api/tasks', spec(i))).ids
      posts.push(performance.now() - p0)
      const t = await waitFinal(a, id!)
      starts.push(t.startedAt! - t0)
    }

    // A cancel sent to the node that does not run the task, until `cancelled` through that node's API.
    const cancels: number[] = []
    for (let i = 0; i < 50; i++) {
      const [id] = (await call<{ ids: string[] }>(a, 'POST', '/api/tasks', { job: 'sleep', params: { ms: 60_000 }, queue: 'taskloop' })).ids
      const runningOn = async (node: Node): Promise<TaskDetail> => {
        for (;;) {
          const t = await call<TaskDetail>(node, 'GET', `/api/tasks/${id}`).catch(() => null)
          if (t?.state === 'running' && t.node) return t
          await sleep(5)
        }
      }
      const running = await withTimeout(runningOn(a), 'cluster: the long task to run')
      const other = running.node === 'bench-1' ? b : a
      // As a user would: the other node's UI shows it running, then they cancel it there.
      await withTimeout(runningOn(other), 'cluster: the other node to see it run')
      const t0 = performance.now()
      await call(other, 'POST', `/api/tasks/${id}/cancel`)
      const t = await waitFinal(other, id!)
      if (t.state !== 'cancelled') throw new Error(`cross-node cancel: task ended ${t.state}`)
      cancels.push(performance.now() - t0)
    }
    const p50Start = median(starts)
    const p95Cancel = percentile(cancels, 95)
    return [
      {
        scenario: '10c. Taskloop cluster: two serve --redis nodes, tiny tasks, full tracking',
        contender: `2 nodes, ${n.toLocaleString('en-US')} tasks`,
        medianMs: ms,
        opsPerSec: ops,
        vsPeer: bullmqOps === null ? '' : `${(ops / bullmqOps).toFixed(2)}x bare BullMQ`,
        goal: '≥ bare BullMQ',
        met: bullmqOps === null ? null : ops >= bullmqOps,
        note: `one run ${warmUpNote(n)}; CPU per task: nodes ${nodesCpu} µs (each node's whole process: BullMQ worker, engine thread, server, the view of the other's tasks; their main threads ${mainsCpu} µs; per thread name, µs: ${threadsCpu}), redis-server ${redisCpu} µs; ${traffic}`,
      },
      {
        scenario: '10c. Taskloop cluster: enqueue → start',
        contender: '200 single tasks',
        medianMs: p50Start,
        opsPerSec: null,
        vsPeer: `p50 ${p50Start.toFixed(1)} ms, p95 ${percentile(starts, 95).toFixed(1)} ms`,
        goal: 'p50 ≤ 3 ms',
        met: p50Start <= 3,
        got: `p50 ${p50Start.toFixed(1)} ms (ms clock)`,
        note: `before the POST → the task's startedAt (running, its row written), ms clock; the bare row's span is before queue.add() → processor entry; the POST round trip alone: p50 ${median(posts).toFixed(2)} ms, p95 ${percentile(posts, 95).toFixed(2)} ms`,
      },
      {
        scenario: '10c. Taskloop cluster: cross-node cancel → cancelled via another node',
        contender: '50 cancels',
        medianMs: median(cancels),
        opsPerSec: null,
        vsPeer: `p50 ${median(cancels).toFixed(1)} ms, p95 ${p95Cancel.toFixed(1)} ms`,
        goal: 'p95 ≤ 20 ms',
        met: p95Cancel <= 20,
        got: `p95 ${p95Cancel.toFixed(1)} ms`,
      },
    ]
  } finally {
    for (const node of nodes) node.child.kill('SIGTERM')
    await Promise.race([Promise.all(nodes.map((node) => node.exited)), sleep(15_000)])
    for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL')
    agent.destroy()
  }
}

const skipped = (title: string, why: string): Row[] => [
  { scenario: title, contender: `skipped: ${why}`, medianMs: null, opsPerSec: null, vsPeer: '', goal: '', met: null },
]

export const cluster: Scenario = {
  name: 'cluster',
  title: '10. Cluster: the Redis-list consumer vs a bare BLMOVE loop; bare BullMQ; Taskloop nodes on BullMQ',
  async run(cfg) {
    const missing = redisMissing()
    if (missing) {
      console.log(`  skipped: ${missing}`)
      return skipped(this.title, missing)
    }
    let redis: RedisServer | null = null
    try {
      redis = await startRedis()
      const rows: Row[] = []
      const n = cfg.scale(20_000)
      const server = redis
      const spent = new Map<string, number[]>()
      // BENCH_CLUSTER_NO_LIST=1: (b) and (c) only, for A/B runs of the nodes.
      if (process.env.BENCH_CLUSTER_NO_LIST !== '1') {
      const contenders = [listConsumer(redis.url), bareBlmove(redis.url)].map((c) => {
        spent.set(c.name, [])
        return withRedisCpu(c, () => server.pid, spent.get(c.name)!)
      })
      const times = await measure(contenders, n, Math.ceil(n / 10), Math.min(cfg.runs, 3))
      // A reference, no goal: every item is a tracked task of the full engine, and the BLMOVE loop does nothing else.
      const listRows = throughputRows(`10a. Redis list, ${n.toLocaleString('en-US')} items`, n, times, 'bare BLMOVE + LREM loop (ioredis)', {
        text: '',
        ratio: 0,
        applies: () => false,
      })
      for (const row of listRows) {
        // The warm-up round is measured too: the last `runs` figures are the timed ones.
        const cpu = spent.get(row.contender)!.slice(-times.get(row.contender)!.length)
        if (cpu.length > 0) row.note = `${row.note}; redis-server CPU ${median(cpu).toFixed(1)} µs/item`
      }
      rows.push(...listRows)
      }
      const bull = await bareBullmq(server, n, cfg.quick ? 100 : 500)
      rows.push(...bull)
      try {
        rows.push(...(await clusterNodes(server, n, bull[0]!.opsPerSec)))
      } catch (e) {
        // Until `serve --redis` joins a cluster (cluster/index.ts), these rows cannot be measured.
        const why = `Taskloop nodes on BullMQ not measured: ${(e as Error).message}`
        console.log(`  ${why}`)
        rows.push({ scenario: '10c. Taskloop cluster', contender: 'not measured', medianMs: null, opsPerSec: null, vsPeer: '', goal: 'runs', met: false, got: why })
      }
      return rows
    } finally {
      await redis?.stop()
    }
  },
}
