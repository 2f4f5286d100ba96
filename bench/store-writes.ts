// What the task store costs per task on the write pattern of scenario 9 (bench/scenarios/serve-e2e.ts),
// without the rest of a run: `--tasks` thread tasks submitted at once (TaskStore.saveNew, in its
// chunks), then claimed `--claim` at a time (markStarted) and ended in event batches of `--batch`
// (save), a claim ahead of the ends as a pool with runs sent ahead does, each write on a turn of
// its own. Rows are written from real engine Tasks (engine/task.ts) as the engine writes them: the
// pending Task itself at submit and claim, its final snapshot (made before the clock starts, as an
// event batch has it already) at its end: what is timed is the store alone. Prints the CPU per task of the writing thread (its schedstat
// run time, in ns), and of the rest of the process (the store's checkpoint thread, GC) over the
// run and the half second after it; the median of `--rounds`, each on a fresh store.
//
//   node --import ./tests/helpers/ts-entry-register.mjs bench/store-writes.ts [--tasks 20000] [--claim 64] [--batch 100] [--rounds 5]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { TaskStore } from '../engine/store'
import { Task } from '../engine/task'
import { job, median } from './harness'

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    claim: { type: 'string', default: '64' },
    batch: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '5' },
  },
})
const TASKS = Number(values.tasks)
const CLAIM = Number(values.claim)
const BATCH = Number(values.batch)
const ROUNDS = Number(values.rounds)

/** This thread's CPU in ms (its run time in /proc/thread-self/schedstat, in ns). */
const threadCpuMs = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function round(r: number): Promise<{ main: number; rest: number; ms: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-bench-store-'))
  const { store } = TaskStore.open(dir)
  const batch = { id: `b-${r}`, failFast: false }
  // Each task as the store sees it: the pending Task itself (submit, claim: its row is read from its
  // fields, as the engine writes it), then its final snapshot (an event batch's).
  const tasks = Array.from({ length: TASKS }, (_, i) => {
    const spec = { job: job('tiny'), executor: 'thread' as const, params: { n: i }, name: `batch #${i + 1}` }
    const pending = new Task(`r${r}-${i.toString(36)}`, i, spec, 'thread', batch)
    pending.waiting = 'executor-limit'
    const task = new Task(pending.id, i, spec, 'thread', batch)
    task.worker = 'thread 1'
    task.to('running')
    task.result = i * 7
    task.progress = 1
    task.to('done')
    return { pending, done: task.snapshot() }
  })
  const c0 = process.cpuUsage()
  const m0 = threadCpuMs()
  const t0 = performance.now()
  await store.saveNew(tasks.map((t) => t.pending))
  let ended = 0
  for (let claimed = 0; ended < TASKS; ) {
    if (claimed < TASKS && claimed - ended < 2 * CLAIM) {
      store.markStarted(tasks.slice(claimed, claimed + CLAIM).map((t) => t.pending))
      claimed = Math.min(TASKS, claimed + CLAIM)
    }
    const done = tasks.slice(ended, Math.min(claimed, ended + BATCH))
    ended += done.length
    store.save(done.map((t) => t.done))
    await turn()
  }
  const ms = performance.now() - t0
  const main = threadCpuMs() - m0
  // The checkpoint thread's last turns.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const c = process.cpuUsage(c0)
  if (store.lastError) throw new Error(store.lastError)
  store.close()
  rmSync(dir, { recursive: true, force: true })
  return { main: (main * 1000) / TASKS, rest: ((c.user + c.system) / 1000 - main) * 1000 / TASKS, ms }
}

const rounds: { main: number; rest: number; ms: number }[] = []
await round(-1)
for (let r = 0; r < ROUNDS; r++) rounds.push(await round(r))
console.log(
  `store writes, ${TASKS} tasks (claims of ${CLAIM}, ends in batches of ${BATCH}), CPU per task, median of ${ROUNDS}: ` +
    `writing thread ${median(rounds.map((x) => x.main)).toFixed(1)} µs, the rest of the process ${median(rounds.map((x) => x.rest)).toFixed(1)} µs ` +
    `(rounds: ${rounds.map((x) => `${x.main.toFixed(1)}+${x.rest.toFixed(1)}`).join(', ')}); load average ${os.loadavg()[0]!.toFixed(1)}`,
)
