// Taskloop as a contender: the full Engine (submit → scheduler → executor → events to a subscriber),
// or one pool executor driven directly, to tell engine cost from pool cost.
import type { Limits, TaskSpec } from '../common/types'
import { Engine } from '../engine/engine'
import type { RunHooks } from '../engine/executors/executor'
import type { ProcessPool, ThreadPool } from '../engine/executors'
import { EngineProbe, lanes, type Contender } from './harness'

/** Submits `n` tasks as batches of `batch` specs (one submit each, as a client would). */
export async function submitAll(engine: Engine, n: number, batch: number, spec: (i: number) => TaskSpec): Promise<void> {
  for (let from = 0; from < n; from += batch) {
    const tasks: TaskSpec[] = []
    for (let i = from; i < Math.min(n, from + batch); i++) tasks.push(spec(i))
    await engine.submit({ batch: { tasks } })
  }
}

/**
 * The full engine: submits `n` tasks in batches, then waits until the subscriber has heard them
 * all final. The warm-up loads the job module and starts workers.
 */
export function engineContender(
  name: string,
  o: { limits: Partial<Limits>; spec: (i: number) => TaskSpec; batch: number; warm: number },
): Contender {
  return {
    name,
    async open() {
      // Every task stays live (no keepInMemory bound): the probe counts finals from the counters.
      const engine = new Engine({ limits: o.limits, keepInMemory: Infinity })
      const probe = new EngineProbe(engine)
      let submitted = 0
      const run = async (n: number): Promise<void> => {
        await submitAll(engine, n, o.batch, o.spec)
        submitted += n
        await probe.until(submitted)
      }
      await run(o.warm)
      return {
        run,
        async close() {
          probe.unsubscribe()
          await engine.shutdown()
        },
      }
    },
  }
}

const noHooks: RunHooks = { worker() {}, progress() {}, log() {} }

/**
 * The pool executor alone, driven as the scheduler drives it: `size` runs at once plus the
 * pool's `prefetch` per worker handed ahead, the next handed as soon as one settles.
 */
export function poolContender(
  name: string,
  o: { make: () => ThreadPool | ProcessPool; size: number; job: string; params: (i: number) => Record<string, unknown> },
): Contender {
  return {
    name,
    async open() {
      const pool = o.make()
      await pool.warm()
      const inFlight = o.size * (1 + (pool.prefetch ?? 0))
      let id = 0
      const run = (n: number): Promise<void> =>
        lanes(n, inFlight, (i) => {
          const request = { taskId: `t${++id}`, attempt: 1, spec: { job: o.job, params: o.params(i) }, inputs: [] }
          return pool.start(request, noHooks).result
        })
      await run(o.size * 20) // loads the job module in every worker
      return { run, close: () => pool.close() }
    },
  }
}
