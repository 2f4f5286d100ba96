// 2. 2,000 tasks of 1 ms busy CPU on 2 threads: how close each pool gets to the hardware's ideal
// (2,000 ms of work / 2 threads = 1,000 ms). On 2 cores the dispatching main thread competes with
// both workers for CPU, so its per-task cost shows directly.
import { Piscina } from 'piscina'
import { ThreadPool } from '../../engine/executors'
import { JOBS_URL, job, measure, median, opsOf, runsNote, type Contender, type Row, type Scenario } from '../harness'
import { engineContender, poolContender } from '../taskloop'

const THREADS = 2
const TASK_MS = 1

const piscina: Contender = {
  name: 'Piscina',
  async open() {
    const pool = new Piscina({ filename: JOBS_URL, name: 'spin', minThreads: THREADS, maxThreads: THREADS })
    const run = async (n: number): Promise<void> => {
      const all: Promise<unknown>[] = []
      for (let i = 0; i < n; i++) all.push(pool.run({ ms: TASK_MS }))
      await Promise.all(all)
    }
    await run(THREADS * 20)
    return { run, close: () => pool.destroy() }
  },
}

export const threadCpu: Scenario = {
  name: 'thread-cpu',
  title: '2. 2k tasks × 1 ms CPU, 2 threads',
  async run(cfg) {
    const n = cfg.scale(2000)
    const contenders = [
      engineContender('Taskloop Engine', {
        limits: { thread: THREADS },
        spec: () => ({ job: job('spin'), executor: 'thread', params: { ms: TASK_MS } }),
        batch: n,
        warm: 100,
      }),
      poolContender('Taskloop ThreadPool', {
        make: () => new ThreadPool({ size: THREADS }),
        size: THREADS,
        job: job('spin'),
        params: () => ({ ms: TASK_MS }),
      }),
      piscina,
    ]
    const times = await measure(contenders, n, Math.ceil(n / 5), cfg.runs)
    const idealMs = (n * TASK_MS) / THREADS
    const rows: Row[] = [...times].map(([contender, runs]) => {
      const med = median(runs.map((t) => t.ms))
      const mine = contender.startsWith('Taskloop')
      return {
        scenario: this.title,
        contender,
        medianMs: med,
        opsPerSec: opsOf(n, med),
        vsPeer: `${((idealMs / med) * 100).toFixed(0)}% of ideal`,
        goal: mine ? '≥ 85% of ideal' : '',
        met: mine ? idealMs / med >= 0.85 : null,
        note: runsNote(n, runs),
      }
    })
    rows.push({
      scenario: this.title,
      contender: `hardware ideal (${n} × ${TASK_MS} ms / ${THREADS} threads)`,
      medianMs: idealMs,
      opsPerSec: opsOf(n, idealMs),
      vsPeer: '100% of ideal',
      goal: '',
      met: null,
    })
    return rows
  },
}
