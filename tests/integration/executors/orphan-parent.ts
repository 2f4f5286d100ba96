// A parent that starts a pool child running a job, prints the child's pid, then waits to be killed.
// Run by process-pool.test.ts with the tsx hooks (node --import tests/helpers/ts-entry-register.mjs).
import { ProcessPool } from '../../../engine/executors/process-pool'

const pool = new ProcessPool({ size: 1 })
pool.start(
  { taskId: 'orphan', attempt: 1, spec: { job: 'sleep', params: { ms: 60_000 } }, inputs: [] },
  {
    worker: (label) => console.log(label),
    progress() {},
    log() {},
  },
).result.catch(() => {})
setInterval(() => {}, 1000)
