// The two monitors of the comparison, each a real server process on UPSTREAM_HOST:port running the
// same load (load.ts): `taskloop serve` with its tasks, and Bull Board beside a BullMQ worker on a
// real redis-server. What the browser measurement needs from each: which page to open, which
// elements are a row of the job list and the count of finished jobs, and the system's own record
// of when each job finished (freshness is measured against it).
import { Queue } from 'bullmq'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Counters, TaskSnapshot } from '../../common/types'
import { startRedis } from '../../tests/helpers/redis'
import { BULL_QUEUE, durations, type Load } from './load'
import { UPSTREAM_HOST } from './tap'

const root = path.resolve(import.meta.dirname, '../..')

export interface Monitor {
  name: string
  /** The page a watching browser opens (on the tap in front of the server). */
  path: string
  /** A row of the job list: the first rows painted. */
  rowSelector: string
  /** The element whose number is how many jobs have finished (done / completed). */
  finishedSelector: string
  /** Jobs running now, by the system's own count. */
  running(): Promise<number>
  /** Jobs finished so far, by the system's own count. */
  finished(): Promise<number>
  /** When every finished job finished (ms since the epoch), as the system recorded it. */
  finishTimes(): Promise<number[]>
  stop(): Promise<void>
}

interface Child {
  url: string
  stop(signal: NodeJS.Signals): Promise<void>
}

/** Spawns a server in its own process group and waits for the line naming its URL. */
async function spawnServer(args: string[], urlLine: RegExp, timeoutMs: number): Promise<Child> {
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // the group is gone
    }
  }
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL from ${args.join(' ')} within ${timeoutMs} ms:\n${out}`)), timeoutMs)
      child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before naming its URL:\n${out}`)))
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        const m = urlLine.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      })
    })
    return {
      url,
      async stop(signal) {
        child.kill(signal)
        // pid 1 may not reap it: the exit event is what counts, and a group kill after a grace.
        const timer = setTimeout(killGroup, 15_000)
        await exited
        clearTimeout(timer)
        killGroup()
      },
    }
  } catch (e) {
    killGroup()
    throw e
  }
}

async function api<T>(base: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const res = await fetch(new URL(route, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** `taskloop serve` (the built CLI, rebuilt first when stale) with the load as one batch of sleep tasks. */
export async function startTaskloop(load: Load, port: number): Promise<Monitor> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-ui-compare-'))
  const args = ['bin/taskloop.mjs', 'serve', '--host', UPSTREAM_HOST, '--port', String(port), '--no-auth', '--data-dir', dataDir]
  let server: Child
  try {
    // A stale build is rebuilt first: minutes on a busy machine.
    server = await spawnServer(args, /Taskloop UI: (http:\/\/\S+)/, 600_000)
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true })
    throw e
  }
  const base = server.url
  const counters = async (): Promise<Counters> => (await api<{ counters: Counters }>(base, 'GET', '/api/stats')).counters
  try {
    await api(base, 'POST', '/api/limits', { limits: { loop: load.concurrency } })
    const tasks = durations(load).map((ms, i) => ({ name: `sleep ${i}`, job: 'sleep', params: { ms } }))
    await api(base, 'POST', '/api/tasks', { batch: { name: 'ui compare', tasks } })
  } catch (e) {
    await server.stop('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
    throw e
  }
  return {
    name: 'Taskloop',
    path: '/',
    rowSelector: 'tr[data-task-id]',
    finishedSelector: 'output[aria-label="done count"]',
    running: async () => (await counters()).running,
    finished: async () => (await counters()).done,
    async finishTimes() {
      const { tasks } = await api<{ tasks: TaskSnapshot[] }>(base, 'GET', '/api/tasks?state=done')
      return tasks.map((t) => t.endedAt!)
    },
    async stop() {
      await api(base, 'POST', '/api/cancel-all').catch(() => undefined)
      await server.stop('SIGINT')
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Bull Board (bull-board-server.ts) and its worker on a redis-server of its own. */
export async function startBullBoard(load: Load, port: number): Promise<Monitor> {
  const redis = await startRedis()
  let server: Child
  try {
    const args = ['--import', './tests/helpers/ts-entry-register.mjs', 'bench/ui/bull-board-server.ts', '--redis', redis.url, '--load', JSON.stringify(load)]
    server = await spawnServer([...args, '--host', UPSTREAM_HOST, '--port', String(port)], /Bull Board: (\S+)/, 120_000)
  } catch (e) {
    await redis.stop()
    throw e
  }
  const queue = new Queue(BULL_QUEUE, { connection: { host: '127.0.0.1', port: redis.port } })
  return {
    name: 'Bull Board',
    path: `/queue/${BULL_QUEUE}`,
    rowSelector: '[class*="jobLink"]',
    // The status tab's badge: "COMPLETED 1234" (no badge while 0).
    finishedSelector: 'a[href*="status=completed"]',
    running: async () => (await queue.getJobCounts('active')).active ?? 0,
    finished: async () => (await queue.getJobCounts('completed')).completed ?? 0,
    async finishTimes() {
      const jobs = await queue.getJobs(['completed'], 0, -1)
      return jobs.map((j) => j.finishedOn!)
    },
    async stop() {
      await queue.close()
      await server.stop('SIGTERM')
      await redis.stop()
    },
  }
}
