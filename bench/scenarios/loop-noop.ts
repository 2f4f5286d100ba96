// 4. Async no-op jobs on the engine's own loop, with full task tracking and a subscriber listening,
// vs p-queue and p-limit, all at concurrency 16.
import PQueue from 'p-queue'
import pLimit from 'p-limit'
import { job, measure, throughputRows, type Contender, type Scenario } from '../harness'
import { noop } from '../jobs.mjs'
import { engineContender } from '../taskloop'

const CONCURRENCY = 16

const pQueue: Contender = {
  name: 'p-queue',
  async open() {
    return {
      async run(n) {
        const queue = new PQueue({ concurrency: CONCURRENCY })
        for (let i = 0; i < n; i++) void queue.add(noop)
        await queue.onIdle()
      },
      async close() {},
    }
  },
}

const pLimitC: Contender = {
  name: 'p-limit',
  async open() {
    return {
      async run(n) {
        const limit = pLimit(CONCURRENCY)
        const all: Promise<void>[] = []
        for (let i = 0; i < n; i++) all.push(limit(noop))
        await Promise.all(all)
      },
      async close() {},
    }
  },
}

export const loopNoop: Scenario = {
  name: 'loop-noop',
  title: '4. loop executor, 100k async no-ops, concurrency 16',
  async run(cfg) {
    const n = cfg.scale(100_000)
    const contenders = [
      engineContender('Taskloop Engine', {
        limits: { loop: CONCURRENCY },
        spec: () => ({ job: job('noop'), executor: 'loop' }),
        batch: 10_000,
        warm: 100,
      }),
      pQueue,
      pLimitC,
    ]
    // 3 runs: p-queue alone needs ~8 s a run at 100k queued (it shift()s an array per dequeue).
    const times = await measure(contenders, n, Math.ceil(n / 10), Math.min(cfg.runs, 3))
    return throughputRows(this.title, n, times, 'p-queue', {
      text: '≥ 1x p-queue',
      ratio: 1,
      applies: (c) => c.startsWith('Taskloop'),
    })
  },
}
