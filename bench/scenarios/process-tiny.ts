// 3. Tiny tasks on 2 pool processes: per-task overhead over IPC, Taskloop vs tinypool's child_process runtime.
import { Tinypool } from 'tinypool'
import { ProcessPool } from '../../engine/executors'
import { JOBS_URL, job, measure, throughputRows, type Contender, type Scenario } from '../harness'
import { engineContender, poolContender } from '../taskloop'

const PROCESSES = 2

const tinypool: Contender = {
  name: 'tinypool',
  async open() {
    const pool = new Tinypool({ filename: JOBS_URL, name: 'tiny', runtime: 'child_process', minThreads: PROCESSES, maxThreads: PROCESSES })
    const run = async (n: number): Promise<void> => {
      const all: Promise<unknown>[] = []
      for (let i = 0; i < n; i++) all.push(pool.run({ n: i }))
      await Promise.all(all)
    }
    await run(PROCESSES * 20)
    return { run, close: () => pool.destroy() }
  },
}

export const processTiny: Scenario = {
  name: 'process-tiny',
  title: '3. process pool, 5k tiny tasks, 2 processes',
  async run(cfg) {
    const n = cfg.scale(5000)
    const contenders = [
      engineContender('Taskloop Engine', {
        limits: { process: PROCESSES },
        spec: (i) => ({ job: job('tiny'), executor: 'process', params: { n: i } }),
        batch: 1000,
        warm: 100,
      }),
      poolContender('Taskloop ProcessPool', {
        make: () => new ProcessPool({ size: PROCESSES }),
        size: PROCESSES,
        job: job('tiny'),
        params: (i) => ({ n: i }),
      }),
      tinypool,
    ]
    const times = await measure(contenders, n, Math.ceil(n / 5), cfg.runs)
    return throughputRows(this.title, n, times, 'tinypool', {
      text: '≥ 1.5x tinypool',
      ratio: 1.5,
      applies: (c) => c.startsWith('Taskloop'),
    })
  },
}
