// 9. End to end through `taskloop serve`, as a user gets it: the real command (bin/taskloop.mjs, store on,
// a fresh data folder per run), one WebSocket subscriber on /api/events attached as the UI is (the
// renderer's own transport, renderer/src/api/http.ts, on the `ws` client: the compact form, deflate
// offered, decoded by common/wire.ts), one batch POSTed over HTTP, timed from the POST to the last
// final state heard on the WebSocket. Piscina runs the same jobs in-process on 2 threads, interleaved;
// so does a server whose subscriber takes the plain form (what scripts get), as a diagnostic. With TASKLOOP_COSTS=1 the server sums its time per phase
// (engine/costs.ts: a few hrtime reads per call or event batch, none per task); the scenario prints it per task.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Piscina } from 'piscina'
import { WebSocket } from 'ws'
import type { EngineEvent, Stats, TaskSpec, ThreadCosts } from '../../common/types'
import { httpApi } from '../../renderer/src/api/http'
import { BENCH_DIR, HANG_MS, JOBS_URL, job, measure, median, opsOf, runsNote, sleep, withTimeout, type Contender, type Row, type Scenario, type Timing } from '../harness'

const THREADS = 2
const TASK_MS = 1
const TOKEN = 'bench-serve-e2e-token-0123456789'
/** `BENCH_NODE_ROOT=DIR` runs the servers from another checkout (built there) under the same driver, for A/B runs. */
const ENTRY = path.join(process.env.BENCH_NODE_ROOT ?? path.join(BENCH_DIR, '..'), 'bin/taskloop.mjs')

/**
 * The tasks one message on /api/events shows in a final state: their ids, and how many of them failed.
 * The one place that reads the wire format. Ids, not the engine's counters: those drop when the
 * engine forgets old finished tasks (its keepInMemory bound), and a task heard final twice (a
 * batch, then a resync snapshot) counts once.
 */
export function finalsIn(message: unknown): { ids: string[]; failed: number } {
  const tasks = (message as { tasks?: { id: string; state: string }[] } | null)?.tasks ?? []
  const ids: string[] = []
  let failed = 0
  for (const t of tasks) {
    if (t.state === 'done' || t.state === 'cancelled' || t.state === 'failed') ids.push(t.id)
    if (t.state === 'failed') failed++
  }
  return { ids, failed }
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
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(s.url + p, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body } : {}),
    })
    if (res.ok) return (await res.json()) as T
    const text = await res.text()
    // On a busy machine a big batch can hold the engine thread past the watchdog's 3 s: a call made
    // meanwhile is refused without reaching the engine (engine/thread/client.ts), so it may ask again.
    if (res.status !== 503 || !text.includes('engine-blocked') || attempt === 30) throw new Error(`${method} ${p}: ${res.status} ${text}`)
    await sleep(1000)
  }
}

const costsOf = async (s: Served): Promise<{ cpuMs: number; engine: ThreadCosts; host: ThreadCosts }> => {
  const stats = await api<Stats>(s, 'GET', '/api/stats')
  if (!stats.costs?.host) throw new Error('the server reports no costs: is TASKLOOP_COSTS=1 reaching it?')
  return { cpuMs: processCpuMs(s.child.pid!), engine: stats.costs.engine, host: stats.costs.host }
}

const diffThread = (a: ThreadCosts, b: ThreadCosts): ThreadCosts => ({
  cpuMs: a.cpuMs === null || b.cpuMs === null ? null : b.cpuMs - a.cpuMs,
  wakeups: a.wakeups == null || b.wakeups == null ? null : b.wakeups - a.wakeups,
  phases: Object.fromEntries(
    Object.entries(b.phases).map(([k, v]) => [k, { ms: v.ms - (a.phases[k]?.ms ?? 0), calls: v.calls - (a.phases[k]?.calls ?? 0) }]),
  ),
})

/** How the subscriber reads /api/events: as the UI does, or the plain form a script reads. */
type Form = 'compact' | 'plain'

/**
 * One subscriber on /api/events that hears every event: `compact`, the UI's transport itself
 * (httpApi: the compact subprotocol, permessage-deflate offered as a browser does, WireDecoder; it
 * reconnects as the UI does when the server drops it); `plain`, JSON of whole tasks (deflate
 * offered, as the `ws` client does by default).
 * Resolves once connected; `close` ends it.
 */
async function subscribe(s: Served, form: Form, listener: (event: EngineEvent) => void, dropped: () => void): Promise<() => void> {
  let closing = false
  const url = `${s.url.replace(/^http/, 'ws')}/api/events`
  if (form === 'compact') {
    let opened!: () => void
    const open = new Promise<void>((r) => (opened = r))
    // The page's login is a cookie; from Node the token goes as a header.
    class Authed extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { authorization: `Bearer ${TOKEN}` }, perMessageDeflate: true })
        this.on('open', opened)
        this.on('close', () => closing || dropped())
      }
    }
    const api = httpApi({ base: s.url, WebSocket: Authed as unknown as typeof globalThis.WebSocket, fetch })
    const stop = api.subscribe(listener)
    await withTimeout(open, 'WebSocket open')
    return () => {
      closing = true
      stop()
    }
  }
  let ws!: WebSocket
  const connect = (): Promise<unknown> => {
    ws = new WebSocket(`${url}?token=${TOKEN}`)
    ws.on('message', (data) => listener(JSON.parse(String(data)) as EngineEvent))
    ws.on('close', () => {
      if (closing) return
      dropped()
      void connect()
    })
    return withTimeout(new Promise((r, j) => (ws.once('open', r), ws.once('error', j))), 'WebSocket open')
  }
  await connect()
  return () => {
    closing = true
    ws.close()
  }
}

/** The tiny job, for warming a server up (`season`). */
const tinySpec = (i: number): TaskSpec => ({ job: job('tiny'), executor: 'thread', params: { n: i } })

/** `taskloop serve` with one WebSocket subscriber; each run POSTs one batch of n tasks and waits to hear them final. */
/**
 * A fresh server takes `warm` tasks, then a batch of the measured size whose time is kept in `colds`
 * (what a user's first batch on a new server takes: its threads still compiling their hot code),
 * then `season` tiny tasks (the rest of the warm-up a row's own batches are too few for), then the
 * measured run: what a server that has been up a while does.
 */
function serveContender(
  name: string,
  form: Form,
  spec: (i: number) => TaskSpec,
  o: { warm: number; n: number; season: number },
  breakdowns: Breakdown[],
  drops: { n: number },
  colds: number[],
): Contender {
  return {
    name,
    async open() {
      const s = await startServe()
      try {
        await api(s, 'POST', '/api/limits', JSON.stringify({ limits: { thread: THREADS } }))
        // Every task of this server is ours: the run is over when as many are heard final as were posted.
        // A subscriber the server dropped (too slow for its backlog bound) reconnects and takes a
        // fresh snapshot, which lists every task it keeps in memory with its state.
        const finals = new Set<string>()
        let waiter: { n: number; resolve(): void } | null = null
        const unsubscribe = await subscribe(
          s,
          form,
          (event) => {
            const f = finalsIn(event)
            for (const id of f.ids) finals.add(id)
            if (f.failed > 0) console.error(`  ! ${f.failed} failed tasks in the server`)
            if (waiter && finals.size >= waiter.n) waiter.resolve()
          },
          () => drops.n++,
        )
        const until = (n: number): Promise<void> =>
          finals.size >= n
            ? Promise.resolve()
            : withTimeout(new Promise<void>((resolve) => (waiter = { n, resolve })), `${name}: ${n} final states heard (heard ${finals.size})`, HANG_MS)
        let submitted = 0
        const post = async (n: number, each = spec): Promise<void> => {
          const tasks: TaskSpec[] = []
          for (let i = 0; i < n; i++) tasks.push(each(i))
          await api(s, 'POST', '/api/tasks', JSON.stringify({ batch: { tasks } }))
          submitted += n
          await until(submitted)
        }
        await post(o.warm)
        const t0 = performance.now()
        await post(o.n)
        colds.push(performance.now() - t0)
        if (o.season > 0) await post(o.season, tinySpec)
        const before = await costsOf(s)
        return {
          run: (n) => post(n),
          async close() {
            // After the clock stopped: the costs of the measured run (a session runs once).
            const after = await costsOf(s)
            breakdowns.push({
              cpuMs: after.cpuMs - before.cpuMs,
              threads: { host: diffThread(before.host, after.host), engine: diffThread(before.engine, after.engine) },
            })
            unsubscribe()
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

/** Warmed as a server is (serveContender): a few tasks, then a batch of the measured size timed into `colds`, then `season` tiny tasks. */
function piscina(name: string, exportName: string, params: (i: number) => Record<string, unknown>, n: number, colds: number[], season: number): Contender {
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
      const t0 = performance.now()
      await run(n)
      colds.push(performance.now() - t0)
      if (season > 0) await Promise.all(Array.from({ length: season }, (_, i) => pool.run({ n: i }, { name: 'tiny' })))
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
    // Woken once per task or more, a thread pays the wake-up's own cost per task (the 1 ms row's engine thread).
    const wakeups = runs[0]!.threads[thread].wakeups == null ? null : med((b) => b.threads[thread].wakeups!) / n
    const phases = Object.keys(runs[0]!.threads[thread].phases).sort()
    const parts = phases.flatMap((p) => {
      const calls = med((b) => b.threads[thread].phases[p]?.calls ?? 0)
      return calls === 0 ? [] : [`${p.replace(/^\w+: /, '')} ${us(med((b) => b.threads[thread].phases[p]?.ms ?? 0))} (${calls} calls)`]
    })
    const woken = wakeups === null ? '' : `, ${wakeups.toFixed(2)} wake-ups`
    lines.push(`${thread} thread CPU ${cpu === null ? '?' : us(cpu)}${woken}; wall time in its phases ${parts.join(', ')}`)
  }
  const rest = med((b) => b.cpuMs - (b.threads.host.cpuMs ?? 0) - (b.threads.engine.cpuMs ?? 0))
  lines.push(`server CPU ${us(med((b) => b.cpuMs))}, of which pool workers and the rest (GC, libuv) ${us(rest)}`)
  return lines
}

/** One server contender's figures in a part. */
interface Served1 {
  form: Form
  name: string
  costs: Breakdown[]
  drops: { n: number }
  /** Each session's first batch on its fresh server, ms. */
  colds: number[]
  runs: Timing[]
  ms: number
  lines: string[]
}

/** The server's CPU per task, µs (the median run). */
const serverCpuUs = (n: number, runs: Breakdown[]): number => (median(runs.map((b) => b.cpuMs)) / n) * 1000

/** One part of the scenario: serve (subscribed as the UI, then as a script) and Piscina interleaved on the same jobs, and their rows. */
async function part(
  title: string,
  o: { n: number; runs: number; exportName: string; params: (i: number) => Record<string, unknown>; warm: number; season: number },
  judge: (ms: number, piscinaMs: number) => { vsPeer: string; goal: string; met: boolean; got?: string },
): Promise<Row[]> {
  const spec = (i: number): TaskSpec => ({ job: job(o.exportName), executor: 'thread', params: o.params(i) })
  const forms = [
    { form: 'compact' as const, name: 'taskloop serve', costs: [] as Breakdown[], drops: { n: 0 }, colds: [] as number[] },
    { form: 'plain' as const, name: 'taskloop serve, plain-form subscriber', costs: [] as Breakdown[], drops: { n: 0 }, colds: [] as number[] },
  ]
  const piscinaColds: number[] = []
  const times = await measure(
    [
      ...forms.map((f) => serveContender(f.name, f.form, spec, { warm: o.warm, n: o.n, season: o.season }, f.costs, f.drops, f.colds)),
      piscina('Piscina', o.exportName, o.params, o.n, piscinaColds, o.season),
    ],
    o.n,
    Math.ceil(o.n / 10),
    o.runs,
  )
  const piscinaMs = median(times.get('Piscina')!.map((t) => t.ms))
  const [compact, plain] = forms.map((f) => {
    const runs = times.get(f.name)!
    // The warm-up round's costs come first: the measured runs are the last ones.
    const lines = breakdownLines(o.n, f.costs.slice(-runs.length))
    console.log(`  ${title}, ${f.form} subscriber, per task (medians):\n${lines.map((l) => `    ${l}`).join('\n')}`)
    return { ...f, runs, ms: median(runs.map((t) => t.ms)), lines }
  }) as [Served1, Served1]
  const ideal = judge(piscinaMs, piscinaMs)
  const asPlain = judge(plain.ms, piscinaMs)
  // The figure the row had before it measured the UI's form, so a change of method stays visible.
  const plainLine = `with a plain-form subscriber instead (JSON of whole tasks, what scripts read): ${plain.ms.toFixed(0)} ms, ${asPlain.got ?? asPlain.vsPeer}; ${runsNote(o.n, plain.runs)} in the bench process; server CPU ${serverCpuUs(o.n, plain.costs.slice(-plain.runs.length)).toFixed(1)} µs/task`
  console.log(`  ${title}: ${plainLine}`)
  // The measured sessions' first batches (the warm-up round's came first).
  const coldOf = (colds: number[], runs: number): number => median(colds.slice(-runs))
  const cold = judge(coldOf(compact.colds, compact.runs.length), coldOf(piscinaColds, o.runs))
  const coldLine = `on a fresh server, its first batch of ${o.n} (after ${o.warm} tasks): ${coldOf(compact.colds, compact.runs.length).toFixed(0)} ms, ${cold.got ?? cold.vsPeer} against Piscina's first batch on a fresh pool (${coldOf(piscinaColds, o.runs).toFixed(0)} ms)`
  console.log(`  ${title}: ${coldLine}`)
  return [
    {
      scenario: title,
      contender: 'taskloop serve',
      medianMs: compact.ms,
      opsPerSec: opsOf(o.n, compact.ms),
      ...judge(compact.ms, piscinaMs),
      note: `a server warmed by a batch as big as the measured one${o.season > 0 ? ` and ${o.season} tiny tasks` : ''} (each contender is); ${coldLine}; subscriber in the UI's compact form; ${runsNote(o.n, compact.runs)} in the bench process; subscriber dropped and reconnected ${compact.drops.n} times; per task: ${compact.lines.join('; ')}. Diagnostic, ${plainLine}; dropped ${plain.drops.n} times`,
    },
    {
      scenario: title,
      contender: 'Piscina',
      medianMs: piscinaMs,
      opsPerSec: opsOf(o.n, piscinaMs),
      vsPeer: ideal.vsPeer,
      goal: '',
      met: null,
      note: runsNote(o.n, times.get('Piscina')!),
    },
  ]
}

export const serveE2e: Scenario = {
  name: 'serve-e2e',
  title: '9. end to end through taskloop serve (HTTP, store, WebSocket), 2 threads',
  async run(cfg) {
    const tinyN = cfg.scale(20_000)
    const tiny = await part(
      `${this.title}: ${tinyN} tiny tasks`,
      // 3 runs, not 5: each starts a server.
      { n: tinyN, runs: Math.min(cfg.runs, 3), exportName: 'tiny', params: (i) => ({ n: i }), warm: 200, season: 0 },
      (ms, piscinaMs) => ({ vsPeer: `${(piscinaMs / ms).toFixed(2)}x Piscina`, goal: '≥ 1.5x Piscina', met: piscinaMs / ms >= 1.5 }),
    )
    const cpuN = cfg.scale(2000)
    const idealMs = (cpuN * TASK_MS) / THREADS
    const cpu = await part(
      `${this.title}: ${cpuN} × ${TASK_MS} ms CPU`,
      // 2,100 tasks leave a server's threads compiling through the measured run (V8's background threads
      // ~100 µs per task, the engine and host threads ~1.5x their steady cost): 10,000 tiny ones more first.
      { n: cpuN, runs: cfg.runs, exportName: 'spin', params: () => ({ ms: TASK_MS }), warm: 100, season: cfg.scale(10_000) },
      (ms, piscinaMs) => ({
        vsPeer: `${((idealMs / ms) * 100).toFixed(0)}% of ideal`,
        goal: "≥ Piscina's and ≥ 85% of ideal",
        met: ms <= piscinaMs && idealMs / ms >= 0.85,
        got: `${((idealMs / ms) * 100).toFixed(0)}% of ideal, Piscina ${((idealMs / piscinaMs) * 100).toFixed(0)}%`,
      }),
    )
    return [...tiny, ...cpu]
  },
}
