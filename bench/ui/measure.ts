// The monitor UI under load: a measurement, not a timed test. Prints figures; checks them against
// the goals and says which passed, but never fails a build.
//
//   npx electron-vite build            # the server serves the built renderer (out/renderer)
//   node --import ./tests/helpers/ts-entry-register.mjs bench/ui/measure.ts [--tasks 10000] [--rate 2000] [--seconds 10] [--json FILE]
//
// The load, through the real headless server (`taskloop serve`, its own temporary data folder):
//   1. setLimits({loop: 1024}), so a thousand loop jobs run at once;
//   2. `--tasks` minus 1000 filler tasks, submitted in batches of 10,000, that give the table its
//      length: up to 19,000 of them instant jobs (`sleep {ms: 0}`) run to the end (done); beyond
//      that a backlog (`sleep` of an hour in group "backlog", group limit 1: one runs, the rest stay
//      pending), because the engine keeps only the newest 20,000 finished tasks live;
//   3. 1000 `ticker` jobs whose interval makes `--rate` state changes per second in all
//      (each step reports progress and a log line: one task change; 1000 tickers every 500 ms =
//      2000 changes/s, coalesced by the engine into ~20 batches/s of ~100 tasks each).
// Then for `--seconds`, Chromium (Debian's, via Playwright, the e2e flags) scrolls the task table
// every frame (80 px per frame, bouncing at the ends) while the batches stream in, and measures:
//   - frame time: requestAnimationFrame deltas, p50/p95/p99/max;
//   - long tasks: PerformanceObserver('longtask'), count and longest;
//   - renderer JS heap: CDP Performance.getMetrics JSHeapUsedSize, largest sample (after a GC at the start);
//   - rows in the DOM: largest count of `tr[data-task-id]` seen;
//   - lag behind the engine: every 100 ms the seq the page shows (App's data-seq) against the seq
//     of the latest batch a separate WebSocket client of the same server has received by then.
// Also reported, not part of the goals: how long the first snapshot of all tasks took to show, and
// where the renderer's main thread went (ms per second). For a closer look: --trace FILE writes a
// Chrome trace of the measurement, UI_BENCH_PROFILE=FILE a JS CPU profile, UI_BENCH_CSS='...'
// injects CSS (to see what a style costs).
import { chromium, type CDPSession } from '@playwright/test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import type { Counters } from '../../common/types'
import type { ServerMessage } from '../../common/wire'
import { startServe } from '../serve-process'

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    tickers: { type: 'string', default: '1000' },
    json: { type: 'string' },
    /** Write a Chrome trace of the measurement and print where the main thread went. */
    trace: { type: 'string' },
  },
})
const TASKS = Number(values.tasks)
const RATE = Number(values.rate)
const SECONDS = Number(values.seconds)
const TICKERS = Math.min(Number(values.tickers), TASKS)
const FILLER = TASKS - TICKERS
const INTERVAL_MS = Math.round((TICKERS / RATE) * 1000)
/** Settle after the tickers start (their first steps, the page catching up) before measuring. */
const WARMUP_S = 3
/** The engine keeps this many finished tasks live; a longer list must be unfinished work. */
const BACKLOG = FILLER > 19_000

const GOALS = { frameP95Ms: 20, longTaskMs: 50, heapMb: 150, rows: 150, behind: 1 }


const log = (msg: string): void => console.log(`[ui-bench ${new Date().toISOString().slice(11, 19)}] ${msg}`)


async function api<T>(base: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const res = await fetch(new URL(route, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const counters = async (base: string): Promise<Counters> => (await api<{ counters: Counters }>(base, 'GET', '/api/stats')).counters

/** The engine's seq as a client sees it: the latest snapshot or batch received. */
function watchSeq(base: string): { latest: () => number; batches: () => number; tasks: () => number; close: () => void } {
  const ws = new WebSocket(new URL('/api/events', base.replace(/^http/, 'ws')))
  ws.on('error', (e) => log(`events socket: ${e.message}`))
  let seq = -1
  let batches = 0
  let tasks = 0
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as ServerMessage
    if (m.type === 'snapshot' || m.type === 'batch') seq = Math.max(seq, m.seq)
    if (m.type === 'batch') {
      batches++
      tasks += m.tasks.length
    }
  })
  return { latest: () => seq, batches: () => batches, tasks: () => tasks, close: () => ws.close() }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]))
}

const heapMb = async (cdp: CDPSession): Promise<number> => ((await metrics(cdp))['JSHeapUsedSize'] ?? NaN) / 2 ** 20

/** Where the renderer's main thread went, ms per second of measurement (CDP's cumulative durations, in s). */
function mainThread(before: Record<string, number>, after: Record<string, number>, seconds: number): Record<string, number> {
  const per = (k: string): number => Math.round((((after[k] ?? 0) - (before[k] ?? 0)) * 1000) / seconds)
  return { busy: per('TaskDuration'), script: per('ScriptDuration'), layout: per('LayoutDuration'), style: per('RecalcStyleDuration') }
}

/**
 * Scrolls the table every frame and records frame deltas, long tasks and row counts, in the page.
 * Plain source text: the TypeScript loader would add helpers (__name) the page does not have.
 */
const PROBE = `(() => {
  const el = document.querySelector('.table-scroll')
  const probe = { frames: [], longTasks: [], maxRows: 0, running: true }
  window.__probe = probe
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push(e.duration)
  }).observe({ type: 'longtask' })
  let last = 0
  let dir = 1
  let n = 0
  let max = el.scrollHeight - el.clientHeight
  const frame = (t) => {
    if (!probe.running) return
    probe.frames.push(t - last)
    last = t
    // The scroll range is read every 30 frames only: reading it forces a layout inside the frame.
    if (n % 30 === 0) max = el.scrollHeight - el.clientHeight
    if (el.scrollTop >= max - 1) dir = -1
    else if (el.scrollTop <= 0) dir = 1
    el.scrollTop += 80 * dir
    if (n++ % 5 === 0) probe.maxRows = Math.max(probe.maxRows, document.querySelectorAll('tr[data-task-id]').length)
    requestAnimationFrame(frame)
  }
  requestAnimationFrame((t) => {
    last = t
    requestAnimationFrame(frame)
  })
})()`

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-ui-bench-'))
  const server = await startServe(dataDir)
  const browser = await chromium.launch({
    executablePath: process.env['TASKLOOP_CHROMIUM'] || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  const seq = watchSeq(server.url)
  try {
    log(`server ${server.url}; load: ${FILLER} ${BACKLOG ? 'backlog (pending)' : 'instant'} jobs, then ${TICKERS} tickers every ${INTERVAL_MS} ms (${RATE} changes/s) for ${SECONDS} s`)
    await api(server.url, 'POST', '/api/limits', { limits: { loop: 1024 } })
    if (BACKLOG) await api(server.url, 'POST', '/api/group-limits', { group: 'backlog', limit: 1 })
    const filler = (n: number) =>
      BACKLOG ? { name: `backlog ${n}`, job: 'sleep', params: { ms: 3_600_000 }, group: 'backlog' } : { name: `filler ${n}`, job: 'sleep', params: { ms: 0 } }
    for (let i = 0; i < FILLER; i += 10_000) {
      const n = Math.min(10_000, FILLER - i)
      await api(server.url, 'POST', '/api/tasks', { batch: { name: 'filler', tasks: Array.from({ length: n }, (_, j) => filler(i + j)) } })
    }
    if (!BACKLOG) await waitFor('the instant jobs to finish', async () => (await counters(server.url)).done >= FILLER)
    log(`${FILLER} filler tasks ${BACKLOG ? 'queued' : 'done'}`)

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, bypassCSP: !!process.env['UI_BENCH_CSS'] })
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Performance.enable')
    const t0 = Date.now()
    await page.goto(server.url)
    await page.getByRole('heading', { name: new RegExp(`Tasks \\(${FILLER}\\)`) }).waitFor({ timeout: 120_000 })
    const firstPaintMs = Date.now() - t0
    log(`page shows ${FILLER} tasks after ${firstPaintMs} ms`)

    const steps = Math.ceil(((SECONDS + WARMUP_S + 10) * 1000) / INTERVAL_MS)
    await api(server.url, 'POST', '/api/tasks', {
      batch: {
        name: 'tickers',
        tasks: Array.from({ length: TICKERS }, (_, i) => ({ name: `ticker ${i}`, job: 'ticker', params: { steps, intervalMs: INTERVAL_MS } })),
      },
    })
    await waitFor('the tickers to run', async () => (await counters(server.url)).running >= TICKERS, 60_000)
    await page.getByRole('heading', { name: new RegExp(`Tasks \\(${TASKS}\\)`) }).waitFor({ timeout: 60_000 })
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000))
    await cdp.send('HeapProfiler.collectGarbage')

    log(`measuring for ${SECONDS} s: scrolling while ${TASKS} tasks are listed`)
    const behind: number[] = []
    let heap = 0
    const batches0 = seq.batches()
    const changes0 = seq.tasks()
    // Experiments: extra CSS for the page (e.g. hide something to see what it costs).
    if (process.env['UI_BENCH_CSS']) await page.addStyleTag({ content: process.env['UI_BENCH_CSS'] })
    const before = await metrics(cdp)
    if (values.trace) await browser.startTracing(page, { path: values.trace, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] })
    if (process.env['UI_BENCH_PROFILE']) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.start')
    }
    await page.evaluate(PROBE)
    const end = Date.now() + SECONDS * 1000
    let nextHeap = 0
    while (Date.now() < end) {
      const engine = seq.latest()
      const shown = Number(await page.locator('.app').getAttribute('data-seq'))
      behind.push(engine - shown)
      if (Date.now() >= nextHeap) {
        heap = Math.max(heap, await heapMb(cdp))
        nextHeap = Date.now() + 1000
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    heap = Math.max(heap, await heapMb(cdp))
    const after = await metrics(cdp)
    if (values.trace) await browser.stopTracing()
    if (process.env['UI_BENCH_PROFILE']) {
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: unknown }
      writeFileSync(process.env['UI_BENCH_PROFILE'], JSON.stringify(profile))
    }
    const probe = (await page.evaluate('(() => { window.__probe.running = false; return window.__probe })()')) as { frames: number[]; longTasks: number[]; maxRows: number }
    const batches = seq.batches() - batches0
    const changes = seq.tasks() - changes0

    const frames = [...probe.frames].sort((a, b) => a - b)
    const result = {
      tasks: TASKS,
      seconds: SECONDS,
      streamed: { batches, taskChanges: changes, perSecond: Math.round(changes / SECONDS) },
      firstSnapshotShownMs: firstPaintMs,
      frameMs: { count: frames.length, p50: pct(frames, 50), p95: pct(frames, 95), p99: pct(frames, 99), max: frames.at(-1) ?? NaN },
      longTasks: { count: probe.longTasks.length, maxMs: Math.max(0, ...probe.longTasks) },
      heapMb: Math.round(heap * 10) / 10,
      mainThreadMsPerSecond: mainThread(before, after, SECONDS),
      machineLoad: os.loadavg().map((l) => Math.round(l * 10) / 10),
      maxRowsInDom: probe.maxRows,
      batchesBehind: { max: Math.max(...behind), p50: pct([...behind].sort((a, b) => a - b), 50), samples: behind.length },
    }
    const goals = {
      [`frame p95 <= ${GOALS.frameP95Ms} ms`]: result.frameMs.p95 <= GOALS.frameP95Ms,
      [`no long task over ${GOALS.longTaskMs} ms`]: result.longTasks.maxMs <= GOALS.longTaskMs,
      [`JS heap < ${GOALS.heapMb} MB`]: result.heapMb < GOALS.heapMb,
      [`rows in DOM < ${GOALS.rows}`]: result.maxRowsInDom < GOALS.rows,
      [`at most ${GOALS.behind} batch behind`]: result.batchesBehind.max <= GOALS.behind,
    }
    console.log(JSON.stringify({ ...result, goals }, null, 2))
    if (values.json) writeFileSync(values.json, JSON.stringify({ ...result, goals }, null, 2))
    await page.close()
  } finally {
    seq.close()
    await browser.close()
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

try {
  await main()
} catch (e) {
  console.error(e)
  process.exitCode = 1
}
