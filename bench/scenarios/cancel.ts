// 5. Cancel of a running thread job: time from cancel() to the task settled, and the longest stall
// of the calling thread's event loop from the cancel until 20 ms after it settled (a replacement
// worker spawned on the way counts). Two jobs: one that honours its AbortSignal, and a busy loop
// that cannot see it and has to be forced (Taskloop with killGraceMs 0; Piscina always terminates).
import { Piscina } from 'piscina'
import { isFinal } from '../../common/types'
import { Engine } from '../../engine/engine'
import { EngineProbe, JOBS_URL, job, median, percentile, sleep, stallMonitor, type Row, type Scenario } from '../harness'

const THREADS = 2
const TRAIL_MS = 20
/** Long enough never to end by itself during the measurement. */
const JOB_MS = 60_000

type Kind = 'hold' | 'busy'

interface Running {
  cancel(): void
  settled(): Promise<boolean>
}

interface Target {
  name: string
  kind: Kind
  peer: string | null
  open(): Promise<{ start(): Promise<Running>; close(): Promise<void> }>
}

async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(1)
  }
}

function taskloop(name: string, kind: Kind): Target {
  return {
    name,
    kind,
    peer: null,
    async open() {
      const engine = new Engine({ limits: { thread: THREADS }, keepInMemory: Infinity })
      const probe = new EngineProbe(engine)
      await engine.submit({ batch: { tasks: Array.from({ length: 20 }, (_, i) => ({ job: job('tiny'), executor: 'thread' as const, params: { n: i } })) } })
      await probe.until(20)
      return {
        async start() {
          const spec = { job: job(kind), executor: 'thread' as const, params: { ms: JOB_MS }, ...(kind === 'busy' ? { killGraceMs: 0 } : {}) }
          const [id] = (await engine.submit(spec)).ids
          // The job's first progress report (0) says it is running in its worker.
          await until('the job to start', async () => (await engine.get(id!)).progress === 0)
          return {
            cancel: () => void engine.cancel(id!),
            async settled() {
              const t = await engine.get(id!)
              if (isFinal(t.state) && t.state !== 'cancelled') throw new Error(`task ended ${t.state}, not cancelled`)
              return isFinal(t.state)
            },
          }
        },
        async close() {
          probe.unsubscribe()
          await engine.shutdown()
        },
      }
    },
  }
}

function piscina(name: string, kind: Kind, peer: string): Target {
  return {
    name,
    kind,
    peer,
    async open() {
      const pool = new Piscina({ filename: JOBS_URL, name: kind, minThreads: THREADS, maxThreads: THREADS })
      await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run({ n: i }, { name: 'tiny' })))
      return {
        async start() {
          const flag = new SharedArrayBuffer(4)
          const ac = new AbortController()
          let done = false
          pool.run({ ms: JOB_MS, started: flag }, { signal: ac.signal }).then(
            () => {
              throw new Error('the job finished instead of being cancelled')
            },
            () => (done = true),
          )
          await until('the job to start', () => Atomics.load(new Int32Array(flag), 0) === 1)
          return { cancel: () => ac.abort(), settled: async () => done }
        },
        close: () => pool.destroy(),
      }
    },
  }
}

/** Nothing to cancel: the same window, so the stall figure shows what the machine alone does to this thread. */
const baseline: Target = {
  name: 'baseline: same window, nothing cancelled',
  kind: 'hold',
  peer: '',
  async open() {
    return { start: async () => ({ cancel() {}, settled: async () => true }), close: async () => {} }
  },
}

interface Sample {
  settleMs: number
  stallMs: number
}

async function sample(target: Target, n: number, warm: number): Promise<Sample[]> {
  const inst = await target.open()
  const out: Sample[] = []
  try {
    for (let i = 0; i < warm + n; i++) {
      const running = await inst.start()
      await sleep(5)
      const monitor = stallMonitor()
      const t0 = performance.now()
      running.cancel()
      while (!(await running.settled())) await new Promise((r) => setImmediate(r))
      const settleMs = performance.now() - t0
      await sleep(TRAIL_MS)
      const { gapMs, histMs } = monitor.stop()
      if (i >= warm) out.push({ settleMs, stallMs: Math.max(gapMs, histMs) })
    }
  } finally {
    await inst.close()
  }
  return out
}

export const cancel: Scenario = {
  name: 'cancel',
  title: '5. cancel a running thread job',
  async run(cfg) {
    const n = cfg.quick ? 5 : 50
    // Discarded first cancels: JIT and first-use costs of either side.
    const warm = cfg.quick ? 1 : 5
    const targets: Target[] = [
      taskloop('Taskloop Engine, job honours its signal', 'hold'),
      piscina('Piscina AbortSignal, same job', 'hold', 'Taskloop Engine, job honours its signal'),
      taskloop('Taskloop Engine, busy job forced (killGraceMs 0)', 'busy'),
      piscina('Piscina AbortSignal, same busy job', 'busy', 'Taskloop Engine, busy job forced (killGraceMs 0)'),
      baseline,
    ]
    const results = new Map<string, Sample[]>()
    for (const t of targets) results.set(t.name, await sample(t, n, warm))
    const settle = (name: string): number => median(results.get(name)!.map((s) => s.settleMs))
    const rows: Row[] = []
    for (const t of targets) {
      const s = results.get(t.name)!
      const settles = s.map((x) => x.settleMs)
      const stalls = s.map((x) => x.stallMs)
      const med = median(settles)
      const maxStall = Math.max(...stalls)
      const mine = t.peer === null
      const peerName = mine ? targets.find((p) => p.peer === t.name)!.name : null
      rows.push({
        scenario: this.title,
        contender: t.name,
        medianMs: t === baseline ? null : med,
        opsPerSec: null,
        vsPeer: `${peerName ? `${(med / settle(peerName)).toFixed(2)}x Piscina's time; ` : ''}longest stall ${maxStall.toFixed(1)} ms`,
        goal: mine ? 'settled ≤ 5 ms, stall ≤ 2 ms' : '',
        met: mine ? med <= 5 && maxStall <= 2 : null,
        got: `settled in ${med.toFixed(2)} ms (median), longest stall ${maxStall.toFixed(2)} ms`,
        note: t === baseline
          ? `${n} windows; event-loop stall median ${median(stalls).toFixed(2)} ms, max ${maxStall.toFixed(2)} ms`
          : `${n} cancels; settle p95 ${percentile(settles, 95).toFixed(2)} ms, max ${Math.max(...settles).toFixed(2)} ms; ` +
          `event-loop stall median ${median(stalls).toFixed(2)} ms, max ${maxStall.toFixed(2)} ms`,
      })
    }
    return rows
  },
}
