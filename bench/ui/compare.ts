// Taskloop beside Bull Board, watched by the same browser under the same load, in one run.
// `npm run bench:ui`; BENCH_QUICK=1 for a smoke run (not comparable, RESULTS.md kept).
//
// The load (load.ts): 10,000 jobs sleeping 0.5–6 s (the same seeded durations for both), 400 at a
// time. Each monitor gets it in turn, in its own server process: Bull Board 9.10.1 (defaults) on a
// BullMQ 6.7.0 worker and a redis-server of its own, then `taskloop serve`. While the jobs run,
// Debian's Chromium (Playwright, the e2e flags, 1400×900, a fresh context: empty cache) opens the
// monitor's page and watches it. Measured from outside only (bytes and the DOM), whatever the
// message format:
//   - bytes: what the server sent to the browser, counted at the TCP level by a loopback relay
//     (tap.ts): compressed bytes as they travel, HTTP headers and WebSocket frame headers included.
//     Beside it, what Chromium's DevTools protocol reports (Network.dataReceived encodedDataLength +
//     Network.webSocketFrameReceived payloads): frames there are inflated, so with
//     permessage-deflate it overstates the wire; it is a cross-check, not the figure.
//   - opening: every byte from navigation until the first rows of the job list are in a frame, and
//     that time (a requestAnimationFrame probe in the page checks the DOM every frame);
//   - watching: bytes over the window (30 s), starting a settle period after the first rows (whose
//     bytes are reported too: the rest of a paged opening lands there);
//   - freshness: for every job that finished during the window, the time from when the system
//     recorded it finished (Taskloop's endedAt, BullMQ's finishedOn) until the page's count of
//     finished jobs first showed it in a frame (the k-th job to finish is shown once the count is
//     at least k); p50 and p95. Bull Board's figure is its poll interval at work (5 s by default).
import { chromium, type Browser, type CDPSession } from '@playwright/test'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import playwrightConfig from '../../playwright.config'
import { redisMissing } from '../../tests/helpers/redis'
import { codeVersion, loadavg, machine, percentile, sleep } from '../harness'
import { freshness } from './freshness'
import { FULL_LOAD, QUICK_LOAD, type Load } from './load'
import { startBullBoard, startTaskloop, type Monitor } from './monitors'
import { probe, until } from './probe'
import { startTap, TAP_HOST, type Tap } from './tap'

const QUICK = process.env['BENCH_QUICK'] === '1'
const LOAD: Load = QUICK ? QUICK_LOAD : FULL_LOAD
const WINDOW_S = QUICK ? 10 : 30
/** After the first rows, before the window: the rest of the opening (a paged snapshot's later pages). */
const SETTLE_S = QUICK ? 2 : 5
/** After the window, how long the page may take to show the jobs that finished in it (Bull Board polls every 5 s). */
const TAIL_MS = 20_000
const VIEWPORT = { width: 1400, height: 900 }
const CHROMIUM = playwrightConfig.use?.launchOptions?.executablePath ?? '/usr/bin/chromium'
/** The goals set for Taskloop's live UI. */
const GOALS = { watchKB: 450, openingKB: 1024, firstRowsMs: 700, freshP95Ms: 100 }

const log = (msg: string): void => console.log(`[ui-compare ${new Date().toISOString().slice(11, 19)}] ${msg}`)

/**
 * What DevTools reports the page received: [ms since the epoch, bytes] per chunk or frame. The
 * events carry monotonic timestamps (s); requestWillBeSent's wallTime ties them to the epoch (the
 * events themselves reach us late when the page is busy, a large frame most).
 */
function devtoolsBytes(cdp: CDPSession): { chunks: Array<[number, number]>; frames: number[] } {
  const chunks: Array<[number, number]> = []
  /** When each WebSocket frame arrived. */
  const frames: number[] = []
  let epochOffsetMs: number | null = null
  const at = (timestamp: number): number => timestamp * 1000 + (epochOffsetMs ?? Date.now() - timestamp * 1000)
  cdp.on('Network.requestWillBeSent', (e) => {
    if (epochOffsetMs === null && e.wallTime) epochOffsetMs = e.wallTime * 1000 - e.timestamp * 1000
  })
  cdp.on('Network.dataReceived', (e) => chunks.push([at(e.timestamp), e.encodedDataLength]))
  cdp.on('Network.webSocketFrameReceived', (e) => {
    frames.push(at(e.timestamp))
    // Text frames arrive as text, binary ones as base64; either way inflated already.
    const { opcode, payloadData } = e.response
    chunks.push([at(e.timestamp), opcode === 2 ? Buffer.from(payloadData, 'base64').length : Buffer.byteLength(payloadData)])
  })
  return { chunks, frames }
}

const sumBetween = (chunks: Array<[number, number]>, from: number, to: number): number =>
  chunks.reduce((s, [t, n]) => (t >= from && t <= to ? s + n : s), 0)

interface Figures {
  monitor: string
  openingBytes: number
  openingDevtoolsBytes: number
  /** Between the first rows and the window: the rest of a paged opening, and updates. */
  settleBytes: number
  firstRowsMs: number
  watchBytes: number
  watchDevtoolsBytes: number
  watchFrames: number
  watchConnections: number
  freshP50Ms: number
  freshP95Ms: number
  freshJobs: number
  /** Jobs that finished in the window but the page never counted (within TAIL_MS after it). */
  unseen: number
  load: string
}

async function watch(browser: Browser, monitor: Monitor, tap: Tap): Promise<Figures> {
  const context = await browser.newContext({ viewport: VIEWPORT })
  try {
    const loadStart = loadavg()
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    const devtools = devtoolsBytes(cdp)
    await page.addInitScript(probe(monitor.rowSelector, monitor.finishedSelector))

    const navigated = Date.now()
    await page.goto(`http://${TAP_HOST}:${tap.port}${monitor.path}`, { waitUntil: 'commit' })
    // Polled with evaluate, not waitForFunction: a string predicate there is an eval, which Taskloop's CSP refuses.
    const firstRowsAt = await until(
      120_000,
      async () => (await page.evaluate('window.__uiCompare?.firstRowsAt ?? null')) as number | null,
      `${monitor.name}: the first rows`,
    )
    log(`${monitor.name}: first rows after ${firstRowsAt - navigated} ms; watching ${WINDOW_S} s after ${SETTLE_S} s`)

    await sleep(Math.max(0, firstRowsAt + SETTLE_S * 1000 - Date.now()))
    const from = Date.now()
    const connections0 = tap.connections()
    await sleep(WINDOW_S * 1000)
    const to = Date.now()
    const connections = tap.connections() - connections0
    const finishedByEnd = await monitor.finished()

    // Let the page catch up with the window's jobs (a poll or two), then compare with the system's record.
    const shown = async (): Promise<number> => ((await page.evaluate('window.__uiCompare.counts.at(-1)?.[1] ?? 0')) as number)
    const tailUntil = Date.now() + TAIL_MS
    while ((await shown()) < finishedByEnd && Date.now() < tailUntil) await sleep(250)
    log(`${monitor.name}: ${finishedByEnd} finished by the end of the window, ${await shown()} shown ${Date.now() - to} ms later`)
    const counts = (await page.evaluate('window.__uiCompare.counts')) as Array<[number, number]>
    const { lags, unseen } = freshness(await monitor.finishTimes(), counts, from, to)
    return {
      monitor: monitor.name,
      openingBytes: tap.bytes(navigated, firstRowsAt),
      openingDevtoolsBytes: sumBetween(devtools.chunks, navigated, firstRowsAt),
      settleBytes: tap.bytes(firstRowsAt + 1, from - 1),
      firstRowsMs: firstRowsAt - navigated,
      watchBytes: tap.bytes(from, to),
      watchDevtoolsBytes: sumBetween(devtools.chunks, from, to),
      watchFrames: devtools.frames.filter((t) => t >= from && t <= to).length,
      watchConnections: connections,
      freshP50Ms: lags.length ? percentile(lags, 50) : NaN,
      freshP95Ms: lags.length ? percentile(lags, 95) : NaN,
      freshJobs: lags.length,
      unseen,
      load: `${loadStart} → ${loadavg()}`,
    }
  } finally {
    await context.close()
  }
}

/**
 * Starts the relay, then the monitor with its load behind it (the relay's port on UPSTREAM_HOST),
 * waits until the load runs at full concurrency, measures, stops both.
 */
async function measure(browser: Browser, start: (port: number) => Promise<Monitor>): Promise<Figures> {
  const tap = await startTap()
  try {
    const monitor = await start(tap.port)
    try {
      await until(120_000, async () => ((await monitor.running()) >= LOAD.concurrency ? true : null), `${monitor.name} running ${LOAD.concurrency} jobs`)
      log(`${monitor.name}: ${LOAD.jobs} jobs listed, ${LOAD.concurrency} running`)
      return await watch(browser, monitor, tap)
    } finally {
      await monitor.stop()
    }
  } finally {
    await tap.close()
  }
}

const kb = (bytes: number): string => `${(bytes / 1024).toLocaleString('en-US', { maximumFractionDigits: bytes < 10_240 ? 1 : 0 })} KB`
const ms = (x: number): string => (Number.isNaN(x) ? '—' : `${Math.round(x).toLocaleString('en-US')} ms`)

function table(results: Figures[]): { head: string[]; rows: string[][] } {
  const [bull, taskloop] = results as [Figures, Figures]
  const rate = (f: Figures): string => `${kb(f.watchBytes)} (${kb(f.watchBytes / WINDOW_S)}/s)`
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met')
  const rows: Array<[string, (f: Figures) => string, string]> = [
    [`bytes to a watching browser, ${WINDOW_S} s (TCP)`, rate, `≤ ${GOALS.watchKB} KB: ${met(taskloop.watchBytes <= GOALS.watchKB * 1024 * (WINDOW_S / 30))}`],
    ['↳ as DevTools reports them (frames inflated)', (f) => kb(f.watchDevtoolsBytes), ''],
    ['↳ WebSocket frames; connections opened', (f) => `${f.watchFrames}; ${f.watchConnections}`, ''],
    ['opening: bytes before the first rows (TCP)', (f) => kb(f.openingBytes), `≤ 1 MB: ${met(taskloop.openingBytes <= GOALS.openingKB * 1024)}`],
    ['↳ as DevTools reports them', (f) => kb(f.openingDevtoolsBytes), ''],
    [`↳ then in the ${SETTLE_S} s before the window (rest of the opening, updates)`, (f) => kb(f.settleBytes), ''],
    ['first rows painted', (f) => ms(f.firstRowsMs), `≤ ${GOALS.firstRowsMs} ms: ${met(taskloop.firstRowsMs <= GOALS.firstRowsMs)}`],
    ['freshness p50 (finished → counted)', (f) => ms(f.freshP50Ms), ''],
    ['freshness p95', (f) => ms(f.freshP95Ms), `≤ ${GOALS.freshP95Ms} ms: ${met(taskloop.freshP95Ms <= GOALS.freshP95Ms)}`],
    ['↳ jobs measured; never counted', (f) => `${f.freshJobs}; ${f.unseen}`, ''],
    ['1-min load average (start → end)', (f) => f.load, ''],
  ]
  return {
    head: ['figure', bull.monitor, taskloop.monitor, 'Taskloop goal'],
    rows: rows.map(([name, get, goal]) => [name, get(bull), get(taskloop), goal]),
  }
}

async function main(): Promise<number> {
  const missing = redisMissing() ?? (existsSync(CHROMIUM) ? null : `Chromium is not installed at ${CHROMIUM} (Debian: apt-get install -y chromium)`)
  if (missing) {
    console.log(`bench:ui skipped: ${missing}`)
    return 0
  }
  const m = machine()
  const code = codeVersion()
  log(
    `${LOAD.jobs} jobs of ${LOAD.minMs / 1000}–${LOAD.maxMs / 1000} s, ${LOAD.concurrency} at a time; ${m.cores} cores, load average ${m.load}` +
      (QUICK ? ' — QUICK (smoke run, not comparable)' : ''),
  )
  const launch = playwrightConfig.use?.launchOptions ?? {}
  const browser = await chromium.launch({
    ...launch,
    executablePath: CHROMIUM,
    // Bull Board's page links Google Fonts: fail such lookups at once (this machine has no internet;
    // elsewhere those bytes come from Google, not from the monitored server).
    args: [...(launch.args ?? []), `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${TAP_HOST}`],
  })
  const version = browser.version()
  const results: Figures[] = []
  try {
    results.push(await measure(browser, (port) => startBullBoard(LOAD, port)))
    results.push(await measure(browser, (port) => startTaskloop(LOAD, port)))
  } finally {
    await browser.close()
  }

  const { head, rows } = table(results)
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (c: string[]): string => c.map((x, i) => x.padEnd(widths[i]!)).join('  ')
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`)

  if (QUICK) {
    console.log('\nQUICK run: bench/ui/RESULTS.md not written.')
    return 0
  }
  const md = [
    '# Taskloop beside Bull Board: the live UI on the wire',
    '',
    `Written by \`npm run bench:ui\` (bench/ui/compare.ts) on ${m.date}. Code: ${code}.`,
    `Machine: ${m.cores} cores, ${m.model}, Node ${m.node}, Chromium at ${CHROMIUM} (${version}), viewport ${VIEWPORT.width}×${VIEWPORT.height}.`,
    '',
    `Load, the same for both, one after the other in this run: ${LOAD.jobs.toLocaleString('en-US')} jobs sleeping ` +
      `${LOAD.minMs / 1000}–${LOAD.maxMs / 1000} s (the same seeded durations), ${LOAD.concurrency} at a time. Bull Board 9.10.1 ` +
      '(its defaults: polls every 5 s, 10 jobs per page) on BullMQ 6.7.0 with a redis-server of its own; `taskloop serve`.',
    `The window opens ${SETTLE_S} s after the first rows and lasts ${WINDOW_S} s. How each figure is measured: the comment at the top of bench/ui/compare.ts.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ].join('\n')
  writeFileSync(path.join(import.meta.dirname, 'RESULTS.md'), md)
  console.log('\nwrote bench/ui/RESULTS.md')
  return 0
}

try {
  process.exitCode = await main()
} catch (e) {
  console.error(e)
  process.exitCode = 1
}
// ioredis or a stray socket must not keep the bench alive.
process.exit()
