// Which permessage-deflate settings pay on the events (server/server.ts EVENTS_DEFLATE): a real
// in-process engine runs `--tasks` sleep jobs of 0.5–6 s, 400 at a time (the load); its stream is recorded in
// both forms (plain, compact), then each message is deflated as permessage-deflate does (raw
// deflate, a sync flush per message) at several levels, with and without context takeover.
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
const encoder = new WireEncoder()
const compact: string[] = []
for (const e of events) {
  if (e.type === 'batch') compact.push(JSON.stringify(encoder.batch(e)))
  else for (const page of encoder.snapshot(e)) compact.push(JSON.stringify(page))
}

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
for (const [name, messages] of [['plain', plain], ['compact', compact]] as const) {
  const row: Record<string, number> = { raw: kb(messages.reduce((n, m) => n + m.length, 0)) }
  for (const level of [1, 6, 9]) {
    row[`level ${level}`] = kb(await deflated(messages, level, true))
    row[`level ${level}, no takeover`] = kb(await deflated(messages, level, false))
  }
  rows[name] = row
}
console.log(`${TASKS} tasks, ${events.length} events; KB on the wire:`)
console.table(rows)
