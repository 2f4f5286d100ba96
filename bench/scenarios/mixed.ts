// 6. 100k tasks at once, mixed executors (mostly loop no-ops, 2% thread and 2% process tiny
// tasks), default limits: everything finishes, every final state reaches a subscriber, and the
// engine's heap per finished task. No peer does this; the figures stand alone.
// "At once": one submit of a 100k-task batch (the most a submit takes).
import type { EngineEvent, JobSpec } from '../../common/types'
import { isFinal } from '../../common/types'
import { Engine } from '../../engine/engine'
import { EngineProbe, gc, job, median, opsOf, sleep, type Row, type Scenario } from '../harness'

/** Task ids end in a base-36 counter (`<prefix>-<n>`); a flag per counter value counts each final state once. */
const SEEN_SIZE = 1 << 18

function specs(n: number): JobSpec[] {
  const out: JobSpec[] = []
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) out.push({ job: job('tiny'), executor: 'thread', params: { n: i } })
    else if (i % 50 === 25) out.push({ job: job('tiny'), executor: 'process', params: { n: i } })
    else out.push({ job: job('noop'), executor: 'loop' })
  }
  return out
}

/** One submit of n tasks; returns the counter of the last id. The specs are garbage once it returns. */
async function submit(engine: Engine, n: number): Promise<number> {
  const { ids } = await engine.submit({ batch: { tasks: specs(n) } })
  return parseInt(ids.at(-1)!.split('-').pop()!, 36)
}

interface Figures {
  ms: number
  submitMs: number
  seen: number
  duplicates: number
  done: number
  heapPerTask: number
}

/** gc, a pause for timers and pending promises, again, until a round frees less than 64 KB (at most 10 rounds). */
async function settledHeap(): Promise<void> {
  let before = Infinity
  for (let i = 0; i < 10; i++) {
    await sleep(50)
    gc()
    const now = process.memoryUsage().heapUsed
    if (before - now < 64 * 1024) return
    before = now
  }
}

/** The previous run's engine: the next baseline is read once it is collected, or its release would be subtracted. */
let previous: WeakRef<Engine> | null = null

/** gc until the previous run's engine is collected (a timer or pending promise may hold it a while after its shutdown). */
async function previousReleased(): Promise<void> {
  if (!previous) return
  // deref() keeps its target alive until the current job ends: each gc runs in a new job, before the deref.
  let alive = true
  for (let i = 0; i < 100 && alive; i++) {
    await sleep(50)
    gc()
    alive = previous.deref() !== undefined
  }
  if (alive) throw new Error('the previous run\'s engine is still reachable 5 s after its shutdown')
  previous = null
}

async function once(n: number): Promise<Figures> {
  // Allocated before the baseline so the bench's own bookkeeping is not counted as engine heap.
  const seen = new Uint8Array(SEEN_SIZE)
  let seenCount = 0
  let duplicates = 0
  const onEvent = (e: EngineEvent): void => {
    for (const t of e.tasks) {
      if (!isFinal(t.state)) continue
      const k = parseInt(t.id.slice(t.id.lastIndexOf('-') + 1), 36)
      if (seen[k]) duplicates++
      else seenCount++
      seen[k] = 1
    }
  }
  // Every task stays live, so memory per finished task is measured and the probe's counters add up.
  await previousReleased()
  const engine = new Engine({ keepInMemory: Infinity })
  previous = new WeakRef(engine)
  const probe = new EngineProbe(engine, onEvent)
  // Warm every executor kind: workers and children up, the job module loaded in each.
  await engine.submit({ batch: { tasks: specs(100) } })
  await probe.until(100)
  await sleep(100)
  seen.fill(0)
  seenCount = 0
  await settledHeap()
  const heap0 = process.memoryUsage().heapUsed
  const t0 = performance.now()
  const last = await submit(engine, n)
  const submitMs = performance.now() - t0
  // Sanity of the id → flag mapping: every id of this run lands inside the flags.
  if (last >= SEEN_SIZE) throw new Error(`task id counter ${last} is beyond the bench's flags`)
  await probe.until(100 + n)
  const ms = performance.now() - t0
  // The batch that showed all final carried their snapshots; a pause lets stray timers run before the heap is read.
  await settledHeap()
  const heapEnd = process.memoryUsage().heapUsed
  const done = (await engine.snapshot()).counters.done - 100
  probe.unsubscribe()
  await engine.shutdown()
  // What the engine holds for the finished tasks: grown since the baseline (read with the previous
  // run's engine collected, so none of its release is subtracted).
  const heapPerTask = (heapEnd - heap0) / n
  return { ms, submitMs, seen: seenCount, duplicates, done, heapPerTask }
}

export const mixed: Scenario = {
  name: 'mixed-100k',
  title: '6. 100k tasks at once, mixed executors',
  async run(cfg) {
    const n = cfg.scale(100_000)
    await once(Math.ceil(n / 10)) // warm-up, discarded
    const runs: Figures[] = []
    for (let r = 0; r < Math.min(cfg.runs, 3); r++) runs.push(await once(n))
    const med = median(runs.map((r) => r.ms))
    const allSeen = runs.every((r) => r.seen === n && r.duplicates === 0 && r.done === n)
    const heap = median(runs.map((r) => r.heapPerTask))
    const row: Row = {
      scenario: this.title,
      contender: 'Taskloop Engine (default limits)',
      medianMs: med,
      opsPerSec: opsOf(n, med),
      vsPeer: `no peer; heap ${heap.toFixed(0)} B per finished task`,
      goal: `all ${n} done and heard, ≤ 2 s, ≤ 500 B per task`,
      met: allSeen && med <= 2000 && heap <= 500,
      got: `${allSeen ? 'all done and heard' : 'NOT all done and heard'}, ${med.toFixed(0)} ms, ${heap.toFixed(0)} B per task`,
      note:
        runs
          .map((r) => `run: ${r.ms.toFixed(0)} ms (submit ${r.submitMs.toFixed(0)} ms), done ${r.done}, final states heard ${r.seen}` +
            `${r.duplicates ? ` (+${r.duplicates} duplicates)` : ''}, heap ${r.heapPerTask.toFixed(0)} B/task`)
          .join('; ') + `; median heap per finished task ${heap.toFixed(0)} B`,
    }
    return [row]
  },
}
