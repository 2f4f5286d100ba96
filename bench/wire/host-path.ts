// What an event batch costs between the engine thread and a WebSocket client, stage by stage, on
// the stream of scenario 9 (bench/scenarios/serve-e2e.ts): a real engine thread with its store runs
// 200 then `--tasks` tiny thread tasks on 2 threads; the batches it posts to the host are recorded
// as they arrive (the packed text and what rides beside it). Then they are replayed, with nothing
// else running, through the host's path (EventUnpacker, the server's EventHub and one compact
// session of serveEvents on a stand-in socket that keeps the text) and the subscriber's (JSON.parse,
// WireDecoder, the bench's count of final states), with each stage's CPU per task (the median of
// `--rounds`). Deflate is left out: it runs on libuv's threads on both ends.
//
// `--save FILE` keeps the recorded stream, `--load FILE` replays a kept one instead of recording: the
// same batches through two versions of the host's code.
//
//   node --import ./tests/helpers/ts-entry-register.mjs bench/wire/host-path.ts [--tasks 20000] [--job tiny] [--rounds 7] [--save FILE | --load FILE]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { EngineEvent, EventBatch, Snapshot } from '../../common/types'
import { COMPACT_PROTOCOL, WireDecoder, type CompactMessage } from '../../common/wire'
import type { EngineHandle } from '../../engine/handle'
import { EventUnpacker } from '../../engine/thread/event-pack'
import { startEngineThread } from '../../engine/thread/client'
import { EventHub, serveEvents } from '../../server/events'
import { finalsIn } from '../scenarios/serve-e2e'
import { job } from '../harness'
import type { WebSocket } from 'ws'

const { values } = parseArgs({
  options: { tasks: { type: 'string', default: '20000' }, job: { type: 'string', default: 'tiny' }, rounds: { type: 'string', default: '7' }, save: { type: 'string' }, load: { type: 'string' } },
})
const TASKS = Number(values.tasks)
const ROUNDS = Number(values.rounds)
const params = values.job === 'spin' ? () => ({ ms: 1 }) : (i: number) => ({ n: i })

// 1. Record.
type Posted = { text: string; extra?: Record<string, unknown> }
type Recorded = { tasks: number; first: Snapshot; posted: Posted[] }
async function record(): Promise<Recorded> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-host-path-'))
  const client = await startEngineThread({ dataDir: path.join(dir, 'data'), limits: { thread: 2 } })
  const posted: Posted[] = []
  ;(client as unknown as { worker: { on(e: 'message', f: (m: { type: string; text: string; extra?: Record<string, unknown> }) => void): void } }).worker.on('message', (m) => {
    if (m.type === 'batch') posted.push({ text: m.text, ...(m.extra ? { extra: structuredClone(m.extra) } : {}) })
  })
  const first: Snapshot = await client.snapshot()
  const run = async (n: number): Promise<void> => {
    const { ids } = await client.submit({ batch: { tasks: Array.from({ length: n }, (_, i) => ({ job: job(values.job!), executor: 'thread' as const, params: params(i) })) } })
    for (;;) {
      const c = (await client.stats()).counters
      if (c.pending + c.running === 0 && c.done >= ids.length) break
      await new Promise((r) => setTimeout(r, 20))
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  await run(200)
  await run(TASKS)
  await client.shutdown({ graceMs: 100 })
  rmSync(dir, { recursive: true, force: true })
  return { tasks: TASKS, first, posted }
}
const recorded: Recorded = values.load ? (JSON.parse(readFileSync(values.load, 'utf8')) as Recorded) : await record()
if (values.save) writeFileSync(values.save, JSON.stringify(recorded))
const { first, posted } = recorded

// 2. Replay.
const cpu = (): number => {
  const c = process.cpuUsage()
  return c.user + c.system
}
const stages = { unpack: [] as number[], fanout: [] as number[], parse: [] as number[], decode: [] as number[] }
let bytes = 0
for (let round = 0; round < ROUNDS; round++) {
  // The host: the client's unpacker, then its listener (the hub) and through it one compact session.
  let listener: ((e: EngineEvent) => void) | null = null
  const engine = {
    // As the client does: a snapshot first, then the batches.
    subscribe: (l: (e: EngineEvent) => void) => ((listener = l), queueMicrotask(() => l(first)), () => (listener = null)),
    snapshot: () => Promise.resolve(first),
  } as unknown as EngineHandle
  const sent: string[] = []
  const ws = {
    protocol: COMPACT_PROTOCOL,
    readyState: 1,
    OPEN: 1,
    bufferedAmount: 0,
    send: (data: string, cb?: (e?: Error) => void) => (sent.push(data), cb?.()),
    on: () => ws,
    terminate: () => {
      throw new Error('terminated')
    },
  }
  const hub = new EventHub(engine)
  serveEvents(ws as unknown as WebSocket, hub, engine)
  await new Promise((r) => setTimeout(r, 10))
  const unpacker = new EventUnpacker()
  const batches: EventBatch[] = []
  let t = cpu()
  for (const p of posted) {
    const batch = unpacker.unpack(p.text)
    if (p.extra) Object.assign(batch, p.extra)
    batches.push(batch)
  }
  stages.unpack.push(cpu() - t)
  const snapshotMessages = sent.length
  t = cpu()
  for (const b of batches) listener!(b)
  stages.fanout.push(cpu() - t)
  bytes = sent.slice(snapshotMessages).reduce((n, s) => n + s.length, 0)
  // The subscriber.
  const decoder = new WireDecoder()
  t = cpu()
  const messages = sent.map((s) => JSON.parse(s) as CompactMessage)
  stages.parse.push(cpu() - t)
  const finals = new Set<string>()
  t = cpu()
  for (const m of messages) decoder.decode(m, (e) => {
    for (const id of finalsIn(e).ids) finals.add(id)
  })
  stages.decode.push(cpu() - t)
  if (finals.size !== recorded.tasks + 200) throw new Error(`heard ${finals.size} final, expected ${recorded.tasks + 200}`)
  hub.stop()
}
const n = recorded.tasks + 200
const med = (xs: number[]): string => ([...xs].sort((a, b) => a - b)[xs.length >> 1]! / n).toFixed(2)
const appearances = posted.reduce((k, p) => k + (JSON.parse(p.text) as { t: unknown[] }).t.length, 0)
console.log(`${n} tasks, ${posted.length} batches, ${(appearances / n).toFixed(2)} appearances per task; engine text ${(posted.reduce((k, p) => k + p.text.length, 0) / n).toFixed(0)} B/task, compact text ${(bytes / n).toFixed(0)} B/task`)
console.log(`CPU µs/task (median of ${ROUNDS}): host unpack ${med(stages.unpack)}, host fan-out (hub + compact session) ${med(stages.fanout)}; subscriber JSON.parse ${med(stages.parse)}, decode + finals ${med(stages.decode)}`)
