// What the live UI costs on the wire: a measurement, not a timed test. Prints figures.
//
//   npx electron-vite build            # `taskloop serve` runs the built CLI and serves the built renderer
//   node --import ./tests/helpers/ts-entry-register.mjs bench/wire/measure.ts [--seconds 30] [--big 100000] [--no-paint]
//
// Through the real headless server (`taskloop serve`, its own temporary data folder):
//   1. load: two watchers (the renderer's own transport, renderer/src/api/http.ts, on the `ws`
//      client), each feeding a Mirror: one as the UI is now (compact subprotocol, permessage-deflate
//      offered like a browser), one as it was (plain JSON, no deflate); loop limit 400, then 10,000
//      `sleep` jobs of 0.5–6 s in one batch. For `--seconds` from the submit: bytes read off the
//      socket (TCP payload: frames, compressed or not), frames, and freshness: from a task's
//      endedAt (the engine's clock, same machine) to the watcher holding it final, p50/p95.
//   2. opening with those 10k tasks listed: new watchers' (compact and plain, alternating) bytes and time to their first snapshot
//      event (the first page, when the snapshot comes paged) and to the whole snapshot; Chromium's
//      first painted task row (`tr[data-task-id]`) after navigation, seen from inside the page
//      (the frame it is in: ../ui/probe.ts).
//   3. `--big` tasks listed (pending backlog: group limit 1): Chromium's first painted row and the
//      frame whose heading counts them all; a watcher's snapshot bytes.
import { chromium } from '@playwright/test'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { Mirror } from '../../common/mirror'
import type { Counters } from '../../common/types'
import { httpApi } from '../../renderer/src/api/http'
import { startServe } from '../serve-process'
import { probe, until, type Probed } from '../ui/probe'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    tasks: { type: 'string', default: '10000' },
    big: { type: 'string', default: '100000' },
    'no-paint': { type: 'boolean', default: false },
    /** Skip the load and the 10k opening: only the `--big` opening. */
    'big-only': { type: 'boolean', default: false },
  },
})
const SECONDS = Number(values.seconds)
const TASKS = Number(values.tasks)
const BIG = Number(values.big)

const log = (msg: string): void => console.log(`[wire-bench ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}


async function post(base: string, route: string, body: unknown): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(new URL(route, base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (res.ok) return res.json()
    const text = await res.text()
    // A busy machine: the engine says it is blocked (503) or full (429) for a while; ask again.
    if ((res.status !== 503 && res.status !== 429) || attempt >= 20) throw new Error(`POST ${route}: HTTP ${res.status} ${text}`)
    log(`POST ${route}: HTTP ${res.status}, again in 2 s`)
    await new Promise((r) => setTimeout(r, 2000))
  }
}
const counters = async (base: string): Promise<Counters> => ((await (await fetch(new URL('/api/stats', base))).json()) as { counters: Counters }).counters

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

interface Watcher {
  mirror: Mirror
  bytes: () => number
  frames: () => number
  /** ms from a task's endedAt to this watcher holding it final. */
  fresh: number[]
  /** ms from start to the first snapshot event / to one holding `n` tasks. */
  firstSnapshotMs: number | null
  snapshotBytes: number | null
  fullSnapshotMs: (n: number) => number | null
  close: () => void
}

/**
 * The renderer's transport and mirror, on the `ws` client: what a browser tab holds. `plain`: the
 * same transport without the compact subprotocol and without deflate, as the UI was before.
 */
function watch(base: string, plain = false): Watcher {
  const sockets: WebSocket[] = []
  let frames = 0
  class Counted extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, plain ? [] : protocols, { perMessageDeflate: !plain })
      sockets.push(this)
      this.on('message', () => frames++)
    }
  }
  const t0 = Date.now()
  const api = httpApi({ base, WebSocket: Counted as unknown as typeof globalThis.WebSocket, fetch })
  const mirror = new Mirror({ snapshot: () => api.snapshot() })
  const seenFinal = new Set<string>()
  const bytes = (): number => sockets.reduce((n, s) => n + ((s as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0), 0)
  const full: Array<[number, number]> = []
  const w: Watcher = {
    mirror,
    bytes,
    frames: () => frames,
    fresh: [],
    firstSnapshotMs: null,
    snapshotBytes: null,
    fullSnapshotMs: (n) => full.find(([size]) => size >= n)?.[1] ?? null,
    close: () => stop(),
  }
  mirror.onChange(({ changed }) => {
    const now = Date.now()
    if (changed === null) {
      w.firstSnapshotMs ??= now - t0
      w.snapshotBytes ??= bytes()
      full.push([mirror.tasks.size, now - t0])
      for (const t of mirror.tasks.values()) if (t.endedAt !== null) seenFinal.add(t.id)
      return
    }
    for (const id of changed) {
      const t = mirror.tasks.get(id)!
      if (t.endedAt === null || seenFinal.has(id)) continue
      seenFinal.add(id)
      w.fresh.push(now - t.endedAt)
    }
  })
  const stop = api.subscribe((e) => mirror.push(e))
  return w
}

/**
 * Chromium opening the page with `expect` tasks listed, timed from inside the page (../ui/probe.ts:
 * the frame the first task row is in, the frame the heading first counts them all), from the
 * navigation's start as the bench's clock saw it. Playwright's waits poll with a backoff of up to
 * 500 ms, which would be most of the figure.
 */
async function firstRows(base: string, expect: number): Promise<{ pageReadyMs: number; firstRowMs: number; allListedMs: number }> {
  const browser = await chromium.launch({
    executablePath: process.env['TASKLOOP_CHROMIUM'] || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    await page.addInitScript(probe('tr[data-task-id]', '#tasks-title'))
    const t0 = Date.now()
    await page.goto(base, { waitUntil: 'commit' })
    const seen = (): Promise<Probed | null> => page.evaluate('window.__uiCompare ?? null') as Promise<Probed | null>
    const firstRowsAt = await until(120_000, async () => (await seen())?.firstRowsAt ?? null, 'the first rows')
    const allListedAt = await until(300_000, async () => (await seen())?.counts.find(([, n]) => n === expect)?.[0] ?? null, `${expect} tasks listed`)
    // How much of it the page itself took (HTML, the script parsed and run) before any event.
    const pageReadyMs = Math.round((await page.evaluate('performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd')) as number)
    return { pageReadyMs, firstRowMs: firstRowsAt - t0, allListedMs: allListedAt - t0 }
  } finally {
    await browser.close()
  }
}

async function load(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-wire-bench-'))
  const serve = await startServe(dataDir)
  try {
    await post(serve.url, '/api/limits', { limits: { loop: 400 } })
    const w = watch(serve.url)
    const p = watch(serve.url, true)
    await waitFor('the first snapshots', () => w.firstSnapshotMs !== null && p.firstSnapshotMs !== null)
    let seed = 42
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const tasks = Array.from({ length: TASKS }, (_, i) => ({ name: `job ${i}`, job: 'sleep', params: { ms: Math.round(500 + random() * 5500) } }))
    const bytes0 = w.bytes()
    const frames0 = w.frames()
    const plainBytes0 = p.bytes()
    log(`load: ${TASKS} sleep jobs of 0.5-6 s, 400 at a time, watched for ${SECONDS} s`)
    await post(serve.url, '/api/tasks', { batch: { name: 'load', tasks } })
    await new Promise((r) => setTimeout(r, SECONDS * 1000))
    const bytes = w.bytes() - bytes0
    const frames = w.frames() - frames0
    const fresh = [...w.fresh]
    const plainBytes = p.bytes() - plainBytes0
    const plainFresh = [...p.fresh]
    w.close()
    p.close()

    log('opening with the tasks listed: compact, plain, compact, plain')
    const opening: Record<string, unknown> = {}
    for (const [i, plain] of [false, true, false, true].entries()) {
      const o = watch(serve.url, plain)
      await waitFor('a full snapshot', () => o.fullSnapshotMs(TASKS) !== null, 120_000)
      opening[`${plain ? 'plain' : 'compact'} ${i >> 1}`] = { firstSnapshotEventMs: o.firstSnapshotMs, firstSnapshotEventBytes: o.snapshotBytes, wholeSnapshotMs: o.fullSnapshotMs(TASKS), wholeSnapshotBytes: o.bytes() }
      o.close()
    }
    const paint = values['no-paint'] ? null : await firstRows(serve.url, TASKS)
    return {
      load: {
        seconds: SECONDS,
        kb: Math.round(bytes / 1024),
        kbPerSecond: Math.round(bytes / 1024 / SECONDS * 10) / 10,
        frames,
        finishedSeen: fresh.length,
        freshnessMs: { p50: pct(fresh, 50), p95: pct(fresh, 95), max: Math.max(...fresh) },
        plain: {
          kb: Math.round(plainBytes / 1024),
          kbPerSecond: Math.round(plainBytes / 1024 / SECONDS * 10) / 10,
          freshnessMs: { p50: pct(plainFresh, 50), p95: pct(plainFresh, 95), max: Math.max(...plainFresh) },
        },
      },
      opening10k: { ...opening, paint },
    }
  } finally {
    await serve.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function big(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-wire-bench-'))
  const serve = await startServe(dataDir)
  try {
    await post(serve.url, '/api/group-limits', { group: 'backlog', limit: 1 })
    for (let i = 0; i < BIG; i += 10_000) {
      const n = Math.min(10_000, BIG - i)
      await post(serve.url, '/api/tasks', { batch: { name: 'backlog', tasks: Array.from({ length: n }, (_, j) => ({ name: `backlog ${i + j}`, job: 'sleep', params: { ms: 3_600_000 }, group: 'backlog' })) } })
    }
    await waitFor('the backlog', async () => (await counters(serve.url)).pending >= BIG - 1)
    // The engine's counters run ahead of the server's picture (its event batches come every 50 ms):
    // a watcher opened now could get a snapshot without the last tasks, and wait forever for one
    // with them. One that sees them all (by any event) says the picture holds them.
    const warm = watch(serve.url)
    await waitFor('the picture to hold the backlog', () => warm.mirror.tasks.size >= BIG, 300_000)
    warm.close()
    log(`${BIG} tasks listed`)
    const watcher: Record<string, unknown> = {}
    for (const [i, plain] of [false, true, false].entries()) {
      const o = watch(serve.url, plain)
      await waitFor('a full snapshot', () => o.fullSnapshotMs(BIG) !== null, 300_000)
      watcher[`${plain ? 'plain' : 'compact'} ${i >> 1}`] = { firstSnapshotEventMs: o.firstSnapshotMs, firstSnapshotEventBytes: o.snapshotBytes, wholeSnapshotMs: o.fullSnapshotMs(BIG), wholeSnapshotBytes: o.bytes() }
      o.close()
    }
    const paint = values['no-paint'] ? null : await firstRows(serve.url, BIG)
    return { [`opening${BIG / 1000}k`]: { ...watcher, paint } }
  } finally {
    await serve.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

try {
  if (!values['big-only']) console.log(JSON.stringify(await load(), null, 2))
  const second = BIG > 0 ? await big() : {}
  console.log(JSON.stringify({ ...second, machineLoad: os.loadavg().map((l) => Math.round(l * 10) / 10) }, null, 2))
} catch (e) {
  console.error(e)
  process.exitCode = 1
}
