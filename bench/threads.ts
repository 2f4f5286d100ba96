// Where the CPU of short jobs goes, thread by thread (Linux): N tasks of fixed CPU work (`work` in
// jobs.mjs, the same CPU whatever the load, unlike `spin`'s wall-clock millisecond) on 2 threads,
// through the Engine in-process (as scenario 2) or the ThreadPool alone. Per task: the main
// thread's CPU (the engine thread here) and its wake-ups (voluntary context switches), the two
// pool threads' CPU (the job's included) and how often they lost their core, the rest of the
// process (GC helpers, the JIT). On a loaded machine wall time says little; these say more.
//   node --expose-gc tests/helpers/ts-run.mjs bench/threads.ts [engine|pool] [tasks] [runs] [work]
import { readdirSync, readFileSync } from 'node:fs'
import { ThreadPool } from '../engine/executors'
import { gc, job, median } from './harness'
import { engineContender, poolContender } from './taskloop'

const [mode = 'engine', tasksArg = '2000', runsArg = '5', workArg = '850000'] = process.argv.slice(2)
const N = Number(tasksArg)
const RUNS = Number(runsArg)
/** Loop iterations of `work`: ~1 ms of CPU on the bench machine. */
const K = Number(workArg)
const THREADS = 2

interface Tally {
  ns: number
  woken: number
  preempted: number
}

/** Every thread of this process: CPU (schedstat, ns) and context switches. */
function tally(): Map<number, Tally> {
  const all = new Map<number, Tally>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0])
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8')
      const count = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
      all.set(Number(tid), { ns, woken: count('voluntary_ctxt_switches'), preempted: count('nonvoluntary_ctxt_switches') })
    } catch {
      // a thread that ended meanwhile
    }
  }
  return all
}

/** The same contenders as scenarios 1 and 2, on `work` jobs. */
const contender =
  mode === 'pool'
    ? poolContender('ThreadPool', { make: () => new ThreadPool({ size: THREADS }), size: THREADS, job: job('work'), params: () => ({ k: K }) })
    : engineContender('Engine', {
        limits: { thread: THREADS },
        spec: () => ({ job: job('work'), executor: 'thread', params: { k: K } }),
        batch: Math.ceil(N / 5),
        warm: 100,
      })

const rows: Record<string, number>[] = []
for (let r = 0; r < RUNS; r++) {
  const session = await contender.open()
  gc()
  const before = tally()
  const t0 = performance.now()
  await session.run(N)
  const ms = performance.now() - t0
  const after = tally()
  await session.close()
  const spent: [number, Tally][] = []
  for (const [tid, b] of after) {
    const a = before.get(tid)
    if (a) spent.push([tid, { ns: b.ns - a.ns, woken: b.woken - a.woken, preempted: b.preempted - a.preempted }])
  }
  const main = spent.find(([tid]) => tid === process.pid)![1]
  // The pool's threads are the two busiest others (the job runs there).
  const others = spent.filter(([tid]) => tid !== process.pid).sort((x, y) => y[1].ns - x[1].ns)
  const pool = others.slice(0, THREADS).map(([, t]) => t)
  const sum = (ts: Tally[], k: keyof Tally): number => ts.reduce((s, t) => s + t[k], 0)
  const row = {
    ms,
    mainUs: main.ns / 1000 / N,
    mainWokenPerTask: main.woken / N,
    poolUs: sum(pool, 'ns') / 1000 / N,
    poolPreemptedPerTask: sum(pool, 'preempted') / N,
    restUs: sum(others.slice(THREADS).map(([, t]) => t), 'ns') / 1000 / N,
  }
  rows.push(row)
  console.log(JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v * 100) / 100]))))
}
const med = (k: string): string => median(rows.map((r) => r[k]!)).toFixed(k.endsWith('PerTask') ? 2 : 1)
console.log(
  `${mode}, ${N} tasks of ${K} iterations, medians of ${RUNS}: main thread ${med('mainUs')} µs/task, woken ${med('mainWokenPerTask')}/task; ` +
    `pool threads ${med('poolUs')} µs/task (the job's included), preempted ${med('poolPreemptedPerTask')}/task; the rest ${med('restUs')} µs/task; ${med('ms')} ms`,
)
