// Classic Python concurrency examples (gather, a pool of 3) with real executors; generous bounds, the figures live in bench/.
import { describe, expect, it } from 'vitest'
import { useEngines, waitFinal } from '../../helpers/engine'

const newEngine = useEngines()

describe('classic concurrency examples', () => {
  it('three loop sleeps of 1, 2 and 4 s run concurrently: about 4 s, not 7', async () => {
    const engine = newEngine()
    const t0 = Date.now()
    const { ids } = await engine.submit({
      batch: { name: 'gather', tasks: [1000, 2000, 4000].map((ms) => ({ job: 'sleep', params: { ms } })) },
    })
    const tasks = await waitFinal(engine, ids)
    const elapsed = Date.now() - t0
    expect(tasks.map((t) => t.state)).toEqual(['done', 'done', 'done'])
    expect(tasks.every((t) => t.executor === 'loop')).toBe(true)
    expect(elapsed).toBeGreaterThanOrEqual(3900)
    expect(elapsed).toBeLessThan(5500)
  })

  for (const executor of ['thread', 'process'] as const) {
    it(`four 1 s spin jobs on a ${executor} pool of 3 take about 2 s`, async () => {
      const engine = newEngine({ limits: { [executor]: 3 } })
      await engine.warm() // the app starts its pools at launch; worker start-up is not what this measures
      const t0 = Date.now()
      const { ids } = await engine.submit({
        batch: { tasks: Array.from({ length: 4 }, (_, i) => ({ name: `cpu ${i}`, job: 'spin', executor, params: { ms: 1000 } })) },
      })
      const tasks = await waitFinal(engine, ids)
      // Two rounds of 1 s cannot end sooner, however late the engine hears of them.
      const wall = Date.now() - t0
      expect(tasks.map((t) => t.state)).toEqual(['done', 'done', 'done', 'done'])
      expect(new Set(tasks.map((t) => t.worker)).size).toBe(3)
      // Three start together; the fourth waits for a free worker, like Python's Pool(3). A task's
      // startedAt and endedAt are when the engine heard of them, which on a loaded machine can be
      // a hundred ms or more after the fact (the spinning jobs hold the cores). What holds whatever
      // the delay: a worker's messages keep their order, so the fourth is heard starting only once
      // a first one is heard done (the same read may stamp that end a moment after the start,
      // hence the few ms), and the third is heard starting before any is heard done.
      const starts = tasks.map((t) => t.startedAt!).sort((a, b) => a - b)
      const firstEnd = Math.min(...tasks.map((t) => t.endedAt!))
      expect(starts[3]!).toBeGreaterThanOrEqual(firstEnd - 5)
      expect(starts[2]!).toBeLessThan(firstEnd)
      expect(wall).toBeGreaterThanOrEqual(1950)
      expect(wall).toBeLessThan(4500)
    })
  }
})
