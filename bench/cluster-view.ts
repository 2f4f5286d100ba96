// What one `taskloop:events` message costs per task, in-process: the publisher's taskChanges,
// packChanges and JSON, the receiver's JSON, unpackChanges and fromChanges (cluster/view.ts).
// CPU per task and bytes per task, for a message of N queued tasks (one submit) and of N finished
// ones (one turn's finals). Run: node tests/helpers/ts-run.mjs bench/cluster-view.ts [N]
import { currentAttempt, type TaskSnapshot } from '../common/types'
import { fromChanges, packChanges, queuedSnapshot, taskChanges, unpackChanges, type TaskChanges } from '../cluster/view'

const N = Number(process.argv[2] ?? 25)
const job = new URL('./jobs.mjs#noop', import.meta.url).pathname
const queued = Array.from({ length: N }, (_, i) => queuedSnapshot(`q0123abcd-${i.toString(36)}`, { name: `tiny ${i}`, job }, 'taskloop', { createdAt: 1_796_187_708_110 }))
const done = queued.map((t, i): TaskSnapshot => {
  const d: TaskSnapshot = { ...t, state: 'done', node: 'bench-2', worker: 'loop', progress: 1, createdAt: t.createdAt + 100 + i, startedAt: t.createdAt + 150 + i, endedAt: t.createdAt + 151 + i }
  d.attempts = [currentAttempt(d)]
  return d
})

function round(list: TaskSnapshot[]): number {
  const text = JSON.stringify({ node: 'bench-2', ...packChanges(list.map(taskChanges)), logs: [] })
  const v = JSON.parse(text) as ReturnType<typeof packChanges>
  let n = 0
  for (const c of v.tasks) n += fromChanges(unpackChanges(v.same, c) as TaskChanges).attempt
  return n === list.length ? text.length : -1
}

for (const [name, list] of [['queued', queued], ['done', done]] as const) {
  const runs: number[] = []
  let bytes = 0
  for (let r = 0; r < 7; r++) {
    for (let i = 0; i < 200; i++) round(list)
    const c0 = process.cpuUsage()
    for (let i = 0; i < 2000; i++) bytes = round(list)
    const c = process.cpuUsage(c0)
    runs.push((c.user + c.system) / (2000 * N))
  }
  runs.sort((a, b) => a - b)
  console.log(`${name}, ${N} a message: ${runs[runs.length >> 1]!.toFixed(2)} µs CPU per task (publish + receive), ${(bytes / N).toFixed(0)} B per task`)
}
