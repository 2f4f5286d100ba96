// What every scenario shares: timed runs with warm-up and medians, the result row, the engine
// probe that waits through subscribe like a UI would, the event-loop stall monitor and gc.
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { isMainThread } from 'node:worker_threads'
import type { EngineEvent } from '../common/types'
import type { Engine } from '../engine/engine'

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
export const JOBS_FILE = path.join(BENCH_DIR, 'jobs.mjs')
/** For Piscina and tinypool, which take a URL or path and pick the export by `name`. */
export const JOBS_URL = pathToFileURL(JOBS_FILE).href
/** A Taskloop job spec names the same file: `/abs/bench/jobs.mjs#tiny`. */
export const job = (exportName: string): string => `${JOBS_FILE}#${exportName}`

export const QUICK = process.env.BENCH_QUICK === '1'

export interface Config {
  quick: boolean
  /** Measured runs per contender (the median is reported); a discarded warm-up round comes first. */
  runs: number
  /** Task counts shrink in quick mode. */
  scale(n: number): number
}

export interface Row {
  scenario: string
  contender: string
  /** Median wall time of the measured runs, ms (scenario 5: median cancel → settled). */
  medianMs: number | null
  opsPerSec: number | null
  /** "2.31x Piscina", "87% of ideal", … */
  vsPeer: string
  goal: string
  /** null: a peer or a reference row, no goal of its own. */
  met: boolean | null
  /** What fell short, for the list of misses; vsPeer when absent. */
  got?: string
  note?: string
}

export interface Session {
  run(n: number): Promise<void>
  close(): Promise<void>
}

export interface Contender {
  name: string
  /** A fresh instance, warmed (workers up, job module loaded); not timed. */
  open(): Promise<Session>
}

// Without --expose-gc on the command line: the flag can still be set before the first use.
v8.setFlagsFromString('--expose-gc')
export const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (vm.runInNewContext('gc') as () => void)

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Times `n` tasks per contender: one warm-up round of `warmN` (discarded), then `runs` rounds.
 * Each run gets a fresh instance; the order rotates per round so no contender always runs
 * right after the same neighbour's teardown (exiting threads and processes still use CPU).
 */
export interface Timing {
  /** Wall time, ms. */
  ms: number
  /** CPU time of this process (all its threads; not child processes), ms: steadier than wall time on a busy machine. */
  cpuMs: number
}

export async function measure(contenders: Contender[], n: number, warmN: number, runs: number): Promise<Map<string, Timing[]>> {
  // A smoke run skips the warm-up round: most of its time would be starting workers twice.
  if (!QUICK) for (const c of contenders) await once(c, warmN)
  const times = new Map<string, Timing[]>(contenders.map((c) => [c.name, []]))
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + r) % contenders.length]!
      times.get(c.name)!.push(await once(c, n))
    }
  }
  return times
}

/** A run that hangs must fail loudly with what it was waiting for, not stall the whole bench. */
export const HANG_MS = 120_000

export async function withTimeout<T>(work: Promise<T>, what: string, ms = HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end after ${ms / 1000} s`)), ms)
  })
  try {
    return await Promise.race([work, hang])
  } finally {
    clearTimeout(timer)
  }
}

async function once(c: Contender, n: number): Promise<Timing> {
  const session = await withTimeout(c.open(), `${c.name}: open and warm-up`)
  try {
    // Same heap state for everyone: no contender pays for the previous one's garbage.
    gc()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await withTimeout(session.run(n), `${c.name}: ${n} tasks`)
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 }
  } finally {
    await session.close()
    await sleep(50)
  }
}

/** `width` lanes, each awaiting its task before starting the next: one task in flight per worker. */
export async function lanes(n: number, width: number, task: (i: number, lane: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async (_, lane) => {
      while (next < n) await task(next++, lane)
    }),
  )
}

/**
 * The engine as a UI sees it: subscribed from the start, hearing every event batch.
 * `until(n)` resolves once the counters in the events show n tasks in a final state.
 */
export class EngineProbe {
  finals = 0
  private failed = 0
  private waiters: { n: number; resolve(): void }[] = []
  readonly unsubscribe: () => void

  constructor(
    private readonly engine: Engine,
    onEvent?: (e: EngineEvent) => void,
  ) {
    this.unsubscribe = engine.subscribe((e) => {
      onEvent?.(e)
      const c = e.counters
      this.finals = c.done + c.failed + c.cancelled
      // No scenario expects a failure: say so as soon as one happens.
      if (c.failed > this.failed) console.error(`  ! ${c.failed} failed tasks in the engine`)
      this.failed = c.failed
      this.waiters = this.waiters.filter((w) => (this.finals >= w.n ? (w.resolve(), false) : true))
    })
  }

  /** On a hang, fails with what the engine says it is doing, so the stuck executor is named. */
  async until(n: number): Promise<void> {
    if (this.finals >= n) return
    const heard = new Promise<void>((resolve) => this.waiters.push({ n, resolve }))
    try {
      await withTimeout(heard, `engine: ${n} tasks final`)
    } catch (e) {
      const s = await this.engine.stats()
      const busy = Object.entries(s.pools).filter(([, p]) => p.running + p.pending > 0)
      throw new Error(`${(e as Error).message}; heard ${this.finals}; counters ${JSON.stringify(s.counters)}; pools ${JSON.stringify(Object.fromEntries(busy))}`)
    }
  }
}

/** What the stall monitor saw in its window. */
export interface Stalls {
  /** The longest gap between two turns of the event loop, ms, whatever its cause (monitorEventLoopDelay's max as a cross-check). */
  wallMs: number
  /**
   * The longest gap less the time the thread spent in it waiting for a core (the kernel's run-queue
   * delay): what the thread itself did or waited on (our work, a gc, a blocking call), not what the
   * machine's other processes took. null where the kernel does not tell (not Linux, not the main thread).
   */
  ownMs: number | null
}

/**
 * The main thread's run-queue delay so far (ns), from /proc/self/task/<tid>/schedstat (its second
 * field): read once per event-loop turn while a monitor runs, through one open file (~10 µs a read).
 */
function runQueueClock(): { read(): number; close(): void } | null {
  if (process.platform !== 'linux' || !isMainThread) return null
  let fd: number
  try {
    fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r')
  } catch {
    return null
  }
  const buf = Buffer.alloc(96)
  const read = (): number => {
    const n = readSync(fd, buf, 0, buf.length, 0)
    const text = buf.toString('latin1', 0, n)
    const a = text.indexOf(' ')
    return Number(text.slice(a + 1, text.indexOf(' ', a + 1)))
  }
  return { read, close: () => closeSync(fd) }
}

/**
 * The calling thread's longest stall while it runs: the largest gap between setImmediate turns
 * (monitorEventLoopDelay at 1 ms resolution as a cross-check, its figure less the resolution), and
 * on Linux that gap less the time the thread waited for a core: a loaded machine's stalls are not
 * the thread's own. The turns keep the thread busy: it competes for a core like any busy thread.
 */
export function stallMonitor(): { stop(): Stalls } {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const waited = runQueueClock()
  let on = true
  let last = performance.now()
  let lastWait = waited ? waited.read() : 0
  let maxGap = 0
  let maxOwn = 0
  const tick = (): void => {
    if (!on) return
    const now = performance.now()
    const gap = now - last
    if (gap > maxGap) maxGap = gap
    if (waited) {
      const w = waited.read()
      const own = gap - (w - lastWait) / 1e6
      if (own > maxOwn) maxOwn = own
      lastWait = w
    }
    last = performance.now()
    setImmediate(tick)
  }
  setImmediate(tick)
  return {
    stop() {
      on = false
      h.disable()
      waited?.close()
      return { wallMs: Math.max(maxGap, h.max / 1e6 - 1, 0), ownMs: waited ? Math.max(0, maxOwn) : null }
    },
  }
}

export function machine(): { cores: number; model: string; node: string; date: string; load: string } {
  let model = os.cpus()[0]?.model ?? 'unknown'
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model
  } catch {
    // not Linux: os.cpus() named it
  }
  return { cores: os.availableParallelism(), model, node: process.version, date: new Date().toISOString(), load: loadavg() }
}

/** Which code was measured: the commit, and engine files changed on top of it (others edit while we run). */
export function codeVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: BENCH_DIR, encoding: 'utf8' })
    // Porcelain lines are "XY path": the leading status column may be a space, so no trim before slicing.
    const dirty = git('status', '--porcelain', '--', '../main', '../common').split('\n').filter(Boolean).map((l) => l.slice(3))
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty.length ? ` with uncommitted changes to ${dirty.join(', ')}` : ''}`
  } catch {
    return 'unknown (no git)'
  }
}

/** Other processes on the machine skew every figure (and the stalls most): the 1-minute load says how much. */
export const loadavg = (): string => os.loadavg()[0]!.toFixed(2)

export const fmtMs = (ms: number | null): string => (ms === null ? '—' : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`)
export const fmtOps = (ops: number | null): string => (ops === null ? '—' : Math.round(ops).toLocaleString('en-US'))
export const opsOf = (n: number, ms: number): number => (n / ms) * 1000

export interface Scenario {
  /** For `--only`. */
  name: string
  title: string
  run(cfg: Config): Promise<Row[]>
}

/**
 * Rows for a throughput scenario: each contender's median and ops/s, its ratio to the peer,
 * and for Taskloop's rows whether ops/s reaches `goal.ratio` times the peer's.
 */
export function throughputRows(
  scenario: string,
  n: number,
  times: Map<string, Timing[]>,
  peer: string,
  goal: { text: string; ratio: number; applies(contender: string): boolean },
): Row[] {
  const peerOps = opsOf(n, median(times.get(peer)!.map((t) => t.ms)))
  return [...times].map(([contender, runs]) => {
    const med = median(runs.map((t) => t.ms))
    const ops = opsOf(n, med)
    const mine = goal.applies(contender)
    return {
      scenario,
      contender,
      medianMs: med,
      opsPerSec: ops,
      vsPeer: `${(ops / peerOps).toFixed(2)}x ${peer}`,
      goal: mine ? goal.text : '',
      met: mine ? ops >= goal.ratio * peerOps : null,
      note: runsNote(n, runs),
    }
  })
}

/** Every run's wall time, and the median CPU per task of this process (threads included, child processes not). */
export function runsNote(n: number, runs: Timing[]): string {
  const cpuUs = (median(runs.map((t) => t.cpuMs)) / n) * 1000
  return `runs ${runs.map((t) => t.ms.toFixed(0)).join(', ')} ms; CPU ${cpuUs.toFixed(1)} µs/task`
}
