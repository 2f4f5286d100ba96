// Which permessage-deflate settings pay on the events (server/server.ts EVENTS_DEFLATE): a real
// in-process engine runs `--tasks` sleep jobs of 0.5–6 s, 400 at a time (the load); its stream is recorded in
// both forms (plain, compact), then each message is deflated as permessage-deflate does (raw
// deflate, a sync flush per message) at several levels, with and without context takeover. Beside
// the bytes, the CPU each costs per task (this process, zlib's threads included): the compact form's
// encoding (WireEncoder and JSON.stringify, on events parsed from text as the server's host thread
// gets them), which the plain form does not pay (the host sends the engine thread's text), and each
// deflate setting.
//
//   node --import ./tests/helpers/ts-entry-register.mjs bench/wire/deflate.ts [--tasks 2000]
import { parseArgs } from 'node:util'
import zlib from 'node:zlib'
import { Engine } from '../../engine/engine'
import type { EngineEvent } from '../../common/types'
import { WireEncoder } from '../../common/wire'

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '2000' } } })
const TASKS = Number(values.tasks)

const engine = new Engine({ limits: { loop: 400 } })
const events: EngineEvent[] = []
const stop = engine.subscribe((e) => events.push(e))
let seed = 7
const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
const { ids } = await engine.submit({ batch: { name: 'deflate', tasks: Array.from({ length: TASKS }, (_, i) => ({ name: `job ${i}`, job: 'sleep', params: { ms: Math.round(500 + random() * 5500) } })) } })
while ((await engine.stats()).counters.done < ids.length) await new Promise((r) => setTimeout(r, 100))
await new Promise((r) => setTimeout(r, 200))
stop()
await engine.shutdown({ graceMs: 100 })

const plain = events.map((e) => JSON.stringify(e))
/** CPU µs per task of `fn` (the whole process: zlib's threads too), the median of 5 runs. */
async function cpuPerTask<T>(fn: () => T | Promise<T>): Promise<{ us: number; value: T }> {
  const runs: number[] = []
  let value!: T
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage()
    value = await fn()
    const c = process.cpuUsage(c0)
    runs.push((c.user + c.system) / TASKS)
  }
  return { us: runs.sort((a, b) => a - b)[2]!, value }
}
const encode = (parsed: EngineEvent[]): string[] => {
  const encoder = new WireEncoder()
  const out: string[] = []
  for (const e of parsed) {
    if (e.type === 'batch') out.push(JSON.stringify(encoder.batch(e)))
    else for (const page of encoder.snapshot(e)) out.push(JSON.stringify(page))
  }
  return out
}
let parsed: EngineEvent[][] = []
const fresh = (): EngineEvent[] => (parsed.length > 0 ? parsed.pop()! : plain.map((t) => JSON.parse(t) as EngineEvent))
parsed = Array.from({ length: 5 }, fresh)
const { us: encodeUs, value: compact } = await cpuPerTask(() => encode(fresh()))

async function deflated(messages: string[], level: number, takeover: boolean): Promise<number> {
  let total = 0
  let stream: zlib.DeflateRaw | null = null
  for (const m of messages) {
    if (!takeover || !stream) {
      stream?.close()
      stream = zlib.createDeflateRaw({ level })
      stream.on('data', (chunk: Buffer) => (total += chunk.length))
    }
    // A sync flush per message, as permessage-deflate sends it (it drops the flush's 4-byte tail).
    const s = stream
    await new Promise<void>((resolve) => {
      s.write(m)
      s.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve())
    })
    total -= 4
  }
  stream?.close()
  return total
}

const kb = (n: number): number => Math.round(n / 1024)
const rows: Record<string, Record<string, number>> = {}
const cpuRows: Record<string, Record<string, number>> = {}
for (const [name, messages] of [['plain', plain], ['compact', compact]] as const) {
  const row: Record<string, number> = { raw: kb(messages.reduce((n, m) => n + m.length, 0)) }
  const cpu: Record<string, number> = { raw: name === 'compact' ? Math.round(encodeUs * 10) / 10 : 0 }
  for (const level of [1, 6, 9]) {
    for (const takeover of [true, false]) {
      const key = `level ${level}${takeover ? '' : ', no takeover'}`
      const { us, value } = await cpuPerTask(() => deflated(messages, level, takeover))
      row[key] = kb(value)
      cpu[key] = Math.round(us * 10) / 10
    }
  }
  rows[name] = row
  cpuRows[name] = cpu
}
console.log(`${TASKS} tasks, ${events.length} events; KB on the wire:`)
console.table(rows)
console.log('CPU µs per task (median of 5): "raw" is the encoding before any deflate (none for plain: the engine thread wrote its text)')
console.table(cpuRows)
