// 9. End to end through `taskloop serve`, as a user gets it: the real command (bin/taskloop.mjs, store on,
// a fresh data folder per run), one WebSocket subscriber on /api/events as the UI, one batch POSTed over
// HTTP, timed from the POST to the last final state heard on the WebSocket. Piscina runs the same jobs
// in-process on 2 threads, interleaved. With TASKLOOP_COSTS=1 the server sums its time per phase
// (engine/costs.ts: a few hrtime reads per call or event batch, none per task); the scenario prints it per task.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Piscina } from 'piscina'
import { WebSocket } from 'ws'
import type { Stats, TaskSpec, ThreadCosts } from '../../common/types'
import { BENCH_DIR, HANG_MS, JOBS_URL, job, measure, median, opsOf, runsNote, withTimeout, type Contender, type Row, type Scenario } from '../harness'

const THREADS = 2
const TASK_MS = 1
const TOKEN = 'bench-serve-e2e-token-0123456789'
const ENTRY = path.join(BENCH_DIR, '../bin/taskloop.mjs')

/**
 * How many tasks are final, as one message on /api/events tells it, or null when it does not say.
 * The one place that reads the wire format: every event batch and snapshot carries the engine's
 * counters, which count each task once however its states were coalesced.
 */
export function finalsIn(message: unknown): { finals: number; failed: number } | null {
  const c = (message as { counters?: Record<string, number> } | null)?.counters
  if (!c || typeof c.done !== 'number') return null
  return { finals: c.done + (c.failed ?? 0) + (c.cancelled ?? 0), failed: c.failed ?? 0 }
}

/** utime + stime of a process, all its threads, ms (Linux). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) * 10
}

/** What one measured run cost inside the server, ms (costs diffed around the run). */
interface Breakdown {
  cpuMs: number
  threads: { host: ThreadCosts; engine: ThreadCosts }
}

interface Served {
  child: ChildProcess
  url: string
  dir: string
}

async function startServe(): Promise<Served> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-bench-serve-'))
  const child = spawn(process.execPath, [ENTRY, 'serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--token', TOKEN], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TASKLOOP_COSTS: '1' },
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      const look = (): void => {
        const m = /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)
        if (m) resolve(m[1]!)
      }
      child.stdout!.on('data', look)
      child.once('exit', (code) => reject(new Error(`taskloop serve exited (${code}): ${out.slice(-2000)}`)))
    }),
    'taskloop serve: the URL line',
  )
  return { child, url, dir }
}

async function api<T>(s: Served, method: string, p: string, body?: string): Promise<T> {
  const res = await fetch(s.url + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body } : {}),
  })
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

const costsOf = async (s: Served): Promise<{ cpuMs: number; engine: ThreadCosts; host: ThreadCosts }> => {
  const stats = await api<Stats>(s, 'GET', '/api/stats')
  if (!stats.costs?.host) throw new Error('the server reports no costs: is TASKLOOP_COSTS=1 reaching it?')
  return { cpuMs: processCpuMs(s.child.pid!), engine: stats.costs.engine, host: stats.costs.host }
}

const diffThread = (a: ThreadCosts, b: ThreadCosts): ThreadCosts => ({
  cpuMs: a.cpuMs === null || b.cpuMs === null ? null : b.cpuMs - a.cpuMs,
  phases: Object.fromEntries(
    Object.entries(b.phases).map(([k, v]) => [k, { ms: v.ms - (a.phases[k]?.ms ?? 0), calls: v.calls - (a.phases[k]?.calls ?? 0) }]),
  ),
})

/** `taskloop serve` with one WebSocket subscriber; each run POSTs one batch of n tasks and waits to hear them final. */
function serveContender(name: string, spec: (i: number) => TaskSpec, warm: number, breakdowns: Breakdown[]): Contender {
  return {
    name,
    async open() {
      const s = await startServe()
      try {
        await api(s, 'POST', '/api/limits', JSON.stringify({ limits: { thread: THREADS } }))
        const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/events?token=${TOKEN}`)
        let heard = -1
        let failed = 0
        let waiter: { n: number; resolve(): void } | null = null
        ws.on('message', (data) => {
          const f = finalsIn(JSON.parse(String(data)))
          if (!f) return
          heard = f.finals
          if (f.failed > failed) console.error(`  ! ${f.failed} failed tasks in the server`)
          failed = f.failed
          if (waiter && heard >= waiter.n) waiter.resolve()
        })
        await withTimeout(new Promise((r, j) => (ws.once('open', r), ws.once('error', j))), 'WebSocket open')
        const until = (n: number): Promise<void> =>
          heard >= n
            ? Promise.resolve()
            : withTimeout(new Promise<void>((resolve) => (waiter = { n, resolve })), `${name}: ${n} final states heard (heard ${heard})`, HANG_MS)
        let submitted = 0
        const post = async (n: number): Promise<void> => {
          const tasks: TaskSpec[] = []
          for (let i = 0; i < n; i++) tasks.push(spec(i))
          await api(s, 'POST', '/api/tasks', JSON.stringify({ batch: { tasks } }))
          submitted += n
          await until(submitted)
        }
        await post(warm)
        const before = await costsOf(s)
        return {
          run: post,
          async close() {
            // After the clock stopped: the costs of the measured run (a session runs once).
            const after = await costsOf(s)
            breakdowns.push({
              cpuMs: after.cpuMs - before.cpuMs,
              threads: { host: diffThread(before.host, after.host), engine: diffThread(before.engine, after.engine) },
            })
            ws.close()
            await stop(s)
          },
        }
      } catch (e) {
        await stop(s)
        throw e
      }
    },
  }
}

async function stop(s: Served): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r))
  if (s.child.exitCode === null && s.child.signalCode === null) {
    s.child.kill('SIGTERM')
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  rmSync(s.dir, { recursive: true, force: true })
}

function piscina(name: string, exportName: string, params: (i: number) => Record<string, unknown>): Contender {
  return {
    name,
    async open() {
      const pool = new Piscina({ filename: JOBS_URL, name: exportName, minThreads: THREADS, maxThreads: THREADS })
      const run = async (n: number): Promise<void> => {
        const all: Promise<unknown>[] = []
        for (let i = 0; i < n; i++) all.push(pool.run(params(i)))
        await Promise.all(all)
      }
      await run(THREADS * 20)
      return { run, close: () => pool.destroy() }
    },
  }
}

/** Per task, µs: each measured phase, each thread's CPU, and what is left of the server's CPU (the pool workers, GC, libuv). */
export function breakdownLines(n: number, runs: Breakdown[]): string[] {
  const us = (ms: number) => `${((ms / n) * 1000).toFixed(1)} µs`
  const med = (f: (b: Breakdown) => number) => median(runs.map(f))
  const lines: string[] = []
  for (const thread of ['host', 'engine'] as const) {
    const cpu = runs[0]!.threads[thread].cpuMs === null ? null : med((b) => b.threads[thread].cpuMs!)
    lines.push(`${thread} thread CPU ${cpu === null ? 'unknown' : us(cpu)}/task; wall time in its phases:`)
    const phases = Object.keys(runs[0]!.threads[thread].phases).sort()
    for (const p of phases) {
      const calls = med((b) => b.threads[thread].phases[p]?.calls ?? 0)
      if (calls === 0) continue
      lines.push(`  ${p}: ${us(med((b) => b.threads[thread].phases[p]?.ms ?? 0))} (${calls} calls)`)
    }
  }
  const rest = med((b) => b.cpuMs - (b.threads.host.cpuMs ?? 0) - (b.threads.engine.cpuMs ?? 0))
  lines.push(`server CPU ${us(med((b) => b.cpuMs))}/task, of which pool workers and the rest (GC, libuv) ${us(rest)}`)
  return lines
}

export const serveE2e: Scenario = {
  name: 'serve-e2e',
  title: '9. end to end through taskloop serve (HTTP, store, WebSocket), 2 threads',
  async run(cfg) {
    const rows: Row[] = []
    const tinyN = cfg.scale(20_000)
    const tinyCosts: Breakdown[] = []
    const tinyTitle = `${this.title}: ${tinyN} tiny tasks`
    const tiny = await measure(
      [
        serveContender('taskloop serve', (i) => ({ job: job('tiny'), executor: 'thread', params: { n: i } }), 200, tinyCosts),
        piscina('Piscina', 'tiny', (i) => ({ n: i })),
      ],
      tinyN,
      Math.ceil(tinyN / 10),
      Math.min(cfg.runs, 3),
    )
    const piscinaOps = opsOf(tinyN, median(tiny.get('Piscina')!.map((t) => t.ms)))
    for (const [contender, runs] of tiny) {
      const ops = opsOf(tinyN, median(runs.map((t) => t.ms)))
      const mine = contender === 'taskloop serve'
      rows.push({
        scenario: tinyTitle,
        contender,
        medianMs: median(runs.map((t) => t.ms)),
        opsPerSec: ops,
        vsPeer: `${(ops / piscinaOps).toFixed(2)}x Piscina`,
        goal: mine ? '≥ 1.5x Piscina' : '',
        met: mine ? ops >= 1.5 * piscinaOps : null,
        note: mine ? `${runsNote(tinyN, runs)} (the bench process); ${breakdownLines(tinyN, tinyCosts.slice(-runs.length)).join('; ')}` : runsNote(tinyN, runs),
      })
    }
    console.log(`  ${tinyTitle}, per task:\n${breakdownLines(tinyN, tinyCosts.slice(-tiny.get('Piscina')!.length)).map((l) => `    ${l}`).join('\n')}`)

    const cpuN = cfg.scale(2000)
    const cpuCosts: Breakdown[] = []
    const cpuTitle = `${this.title}: ${cpuN} × ${TASK_MS} ms CPU`
    const cpu = await measure(
      [
        serveContender('taskloop serve', () => ({ job: job('spin'), executor: 'thread', params: { ms: TASK_MS } }), 100, cpuCosts),
        piscina('Piscina', 'spin', () => ({ ms: TASK_MS })),
      ],
      cpuN,
      Math.ceil(cpuN / 5),
      cfg.runs,
    )
    const idealMs = (cpuN * TASK_MS) / THREADS
    const piscinaEff = idealMs / median(cpu.get('Piscina')!.map((t) => t.ms))
    for (const [contender, runs] of cpu) {
      const med = median(runs.map((t) => t.ms))
      const mine = contender === 'taskloop serve'
      const eff = idealMs / med
      rows.push({
        scenario: cpuTitle,
        contender,
        medianMs: med,
        opsPerSec: opsOf(cpuN, med),
        vsPeer: `${(eff * 100).toFixed(0)}% of ideal`,
        goal: mine ? "≥ Piscina's and ≥ 85% of ideal" : '',
        met: mine ? eff >= piscinaEff && eff >= 0.85 : null,
        got: `${(eff * 100).toFixed(0)}% of ideal, Piscina ${(piscinaEff * 100).toFixed(0)}%`,
        note: mine ? `${runsNote(cpuN, runs)} (the bench process); ${breakdownLines(cpuN, cpuCosts.slice(-runs.length)).join('; ')}` : runsNote(cpuN, runs),
      })
    }
    console.log(`  ${cpuTitle}, per task:\n${breakdownLines(cpuN, cpuCosts.slice(-cpu.get('Piscina')!.length)).map((l) => `    ${l}`).join('\n')}`)
    return rows
  },
}
