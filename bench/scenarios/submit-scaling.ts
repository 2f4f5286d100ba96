// 7. (diagnostic, no goal from the issue) What one submit costs per task as the batch grows.
// The intake is paused so nothing runs: the figure is submit alone (validation, ids, tasks, queues).
// Flat per-task cost is the healthy shape; growth with the batch size means quadratic work
// (a Set of all sibling ids built per task did that until 4a76418).
import { Engine } from '../../engine/engine'
import { job, median, opsOf, type Row, type Scenario } from '../harness'

const spec = (i: number) => ({ job: job('tiny'), executor: 'thread' as const, params: { n: i } })

async function submitMs(size: number, repeat: number): Promise<number> {
  const engine = new Engine({ limits: { thread: 2 }, keepInMemory: Infinity })
  await engine.pause()
  const times: number[] = []
  for (let r = 0; r < repeat; r++) {
    const tasks = Array.from({ length: size }, (_, i) => spec(i))
    const t0 = performance.now()
    await engine.submit({ batch: { tasks } })
    times.push(performance.now() - t0)
  }
  await engine.shutdown({ graceMs: 0 })
  return median(times)
}

export const submitScaling: Scenario = {
  name: 'submit-scaling',
  title: '7. one batch submit, growing batch (diagnostic)',
  async run(cfg) {
    const sizes = cfg.quick ? [100, 1000, 10_000] : [100, 1000, 10_000, 100_000]
    await submitMs(100, 50) // warm-up: JIT the submit path
    const rows: Row[] = []
    let base = 0
    for (const size of sizes) {
      // Enough repeats of the small sizes for a stable median; the large ones take seconds each.
      const ms = await submitMs(size, Math.max(1, Math.round(2000 / size)))
      const perTaskUs = (ms / size) * 1000
      if (base === 0) base = perTaskUs
      rows.push({
        scenario: this.title,
        contender: `Taskloop Engine, ${size} tasks in one submit`,
        medianMs: ms,
        opsPerSec: opsOf(size, ms),
        vsPeer: `${perTaskUs.toFixed(1)} µs/task (${(perTaskUs / base).toFixed(1)}x the ${sizes[0]}-task batch)`,
        goal: '',
        met: null,
      })
    }
    return rows
  },
}
