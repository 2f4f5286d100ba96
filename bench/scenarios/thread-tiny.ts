// 1. Tiny tasks on 2 threads: per-task overhead of the thread path, Taskloop vs Piscina,
// with a bare postMessage echo as the ceiling.
import { Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { ThreadPool } from '../../engine/executors'
import { BENCH_DIR, JOBS_URL, job, lanes, measure, throughputRows, type Contender, type Scenario } from '../harness'
import { engineContender, poolContender } from '../taskloop'

const THREADS = 2
const ECHO_ENTRY = `${BENCH_DIR}/echo-worker.mjs`

const piscina: Contender = {
  name: 'Piscina',
  async open() {
    // Piscina's defaults otherwise (atomics: 'sync', its own queue): its best ordinary configuration.
    const pool = new Piscina({ filename: JOBS_URL, name: 'tiny', minThreads: THREADS, maxThreads: THREADS })
    const run = async (n: number): Promise<void> => {
      const all: Promise<unknown>[] = []
      for (let i = 0; i < n; i++) all.push(pool.run({ n: i }))
      await Promise.all(all)
    }
    await run(THREADS * 20)
    return { run, close: () => pool.destroy() }
  },
}

/** Bare workers; `inFlight` per worker: 1 is dispatch-on-settle like a pool, Infinity is a pure stream. */
function echo(name: string, inFlight: number): Contender {
  return {
    name,
    async open() {
      const workers = Array.from({ length: THREADS }, () => new Worker(ECHO_ENTRY))
      const waiting = workers.map(() => [] as (() => void)[])
      workers.forEach((w, k) => w.on('message', () => waiting[k]!.shift()!()))
      await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))))
      const ask = (k: number, i: number): Promise<void> =>
        new Promise((resolve) => {
          waiting[k]!.push(resolve)
          workers[k]!.postMessage({ n: i })
        })
      const run = async (n: number): Promise<void> => {
        if (inFlight === 1) {
          await lanes(n, THREADS, (i, lane) => ask(lane, i))
        } else {
          const all: Promise<void>[] = []
          for (let i = 0; i < n; i++) all.push(ask(i % THREADS, i))
          await Promise.all(all)
        }
      }
      await run(THREADS * 20)
      return { run, close: async () => void (await Promise.all(workers.map((w) => w.terminate()))) }
    },
  }
}

export const threadTiny: Scenario = {
  name: 'thread-tiny',
  title: '1. thread pool, 50k tiny tasks, 2 threads',
  async run(cfg) {
    const n = cfg.scale(50_000)
    const contenders = [
      engineContender('Taskloop Engine', {
        limits: { thread: THREADS },
        spec: (i) => ({ job: job('tiny'), executor: 'thread', params: { n: i } }),
        batch: 5000,
        warm: 200,
      }),
      poolContender('Taskloop ThreadPool', {
        make: () => new ThreadPool({ size: THREADS }),
        size: THREADS,
        job: job('tiny'),
        params: (i) => ({ n: i }),
      }),
      piscina,
      echo('postMessage echo, 1 in flight per thread', 1),
      echo('postMessage echo stream (ceiling)', Infinity),
    ]
    // Every contender takes well under 2 s a run now, and a median of 3 moved by a tenth between runs
    // of the same code minutes apart (Piscina's runs alone spread 1.4-2.0 s on a quiet machine).
    const times = await measure(contenders, n, Math.ceil(n / 10), cfg.runs)
    return throughputRows(this.title, n, times, 'Piscina', {
      text: '≥ 2x Piscina',
      ratio: 2,
      applies: (c) => c.startsWith('Taskloop'),
    })
  },
}
