// The compact form of the events over a real server and socket (common/wire.ts, server/events.ts):
// negotiated with permessage-deflate like a browser, it ends with the same picture as the plain
// form for a fraction of the bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Mirror } from '../../../common/mirror'
import type { EngineEvent } from '../../../common/types'
import { COMPACT_PROTOCOL, lightTask, WireDecoder, type CompactMessage } from '../../../common/wire'
import { post, startHarness, waitFor, wsUrl } from './helpers'
import type { Harness } from './helpers'

let h: Harness

beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h.close()
})

/** A client feeding a Mirror, with the bytes it read off the socket. */
function client(options: { compact: boolean; deflate: boolean }) {
  const ws = new WebSocket(wsUrl(h.server), options.compact ? COMPACT_PROTOCOL : [], { perMessageDeflate: options.deflate })
  const mirror = new Mirror({ snapshot: () => Promise.reject(new Error('no gap expected')) })
  const decoder = new WireDecoder()
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as CompactMessage | EngineEvent
    if (ws.protocol === COMPACT_PROTOCOL) {
      decoder.decode(message as CompactMessage, (m) => m.type !== 'log' && m.type !== 'error' && mirror.push(m))
    } else mirror.push(message as EngineEvent)
  })
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const bytes = (): number => (ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead
  return { ws, mirror, opened, bytes }
}

describe('the compact form on a real socket', () => {
  it('is negotiated with deflate, ends with the same picture as the plain form, and costs a fraction of its bytes', async () => {
    const listening = h.server.clients
    await h.api('/api/limits', post({ limits: { loop: 100 } }))
    const plain = client({ compact: false, deflate: false })
    const compact = client({ compact: true, deflate: true })
    await Promise.all([plain.opened, compact.opened])
    expect(compact.ws.protocol).toBe(COMPACT_PROTOCOL)
    expect(compact.ws.extensions).toContain('permessage-deflate')
    expect(plain.ws.protocol).toBe('')
    await waitFor('both snapshots', () => plain.mirror.seq !== null && compact.mirror.seq !== null)
    const from = { plain: plain.bytes(), compact: compact.bytes() }

    const tasks = Array.from({ length: 600 }, (_, i) => ({ name: `job ${i}`, job: 'sleep', params: { ms: 20 + (i % 7) * 10 }, group: `g${i % 3}` }))
    const res = await h.api('/api/tasks', post({ batch: { name: 'wire', tasks } }))
    const { ids } = (await res.json()) as { ids: string[] }
    const done = (m: Mirror) => ids.every((id) => m.tasks.get(id)?.state === 'done')
    await waitFor('both clients to hold every task done', () => done(plain.mirror) && done(compact.mirror), 60_000)
    await waitFor('the same seq', () => plain.mirror.seq === compact.mirror.seq, 10_000)

    const light = (m: Mirror) => [...m.tasks.values()].map((t) => JSON.parse(JSON.stringify(lightTask(t))) as unknown)
    expect(light(compact.mirror)).toEqual(light(plain.mirror))
    expect(compact.mirror.counters).toEqual(plain.mirror.counters)
    const spent = { plain: plain.bytes() - from.plain, compact: compact.bytes() - from.compact }
    console.log(`wire: 600 tasks, plain ${spent.plain} B, compact + deflate ${spent.compact} B`)
    expect(spent.compact).toBeLessThan(spent.plain / 4)
    plain.ws.close()
    compact.ws.close()
    await waitFor('the sessions to go', () => h.server.clients === listening)
  })
})

describe('tasks the engine forgets', () => {
  it('leave every client with the batch that says so, in both forms, with no snapshot after the first', async () => {
    const small = await startHarness({}, { keepInMemory: 20 })
    try {
      const open = (compact: boolean) => {
        const ws = new WebSocket(wsUrl(small.server), compact ? COMPACT_PROTOCOL : [])
        const mirror = new Mirror({ snapshot: () => Promise.reject(new Error('no gap expected')) })
        const decoder = new WireDecoder()
        let snapshots = 0
        let forgot = 0
        ws.on('message', (data) => {
          const message = JSON.parse(data.toString()) as CompactMessage | EngineEvent
          if (message.type === 'snapshot') snapshots++
          const push = (m: EngineEvent) => {
            if (m.type === 'batch') forgot += m.forgot?.length ?? 0
            mirror.push(m)
          }
          if (compact) decoder.decode(message as CompactMessage, (m) => m.type !== 'log' && m.type !== 'error' && push(m))
          else push(message as EngineEvent)
        })
        return { ws, mirror, counts: () => ({ snapshots, forgot }) }
      }
      const clients = [open(false), open(true)]
      await waitFor('both snapshots', () => clients.every((c) => c.mirror.seq !== null))
      const all: string[] = []
      for (let round = 0; round < 3; round++) {
        const tasks = Array.from({ length: 40 }, (_, i) => ({ name: `r${round} ${i}`, job: 'sleep', params: { ms: 1 } }))
        const { ids } = (await (await small.api('/api/tasks', post({ batch: { tasks } }))).json()) as { ids: string[] }
        all.push(...ids)
        const last = ids.at(-1)!
        await waitFor('the round done', async () => ((await (await small.api(`/api/tasks/${last}`)).json()) as { state: string }).state === 'done')
      }
      const live = (m: Mirror) => Object.values(m.counters).reduce((a, b) => a + b, 0)
      await waitFor('each client down to what the engine keeps', () => clients.every((c) => c.mirror.counters.done === 120 - c.counts().forgot && c.mirror.tasks.size === live(c.mirror)))
      for (const c of clients) {
        expect(c.counts().snapshots).toBe(1)
        expect(c.counts().forgot).toBeGreaterThanOrEqual(120 - 22)
        expect(c.mirror.tasks.size).toBeLessThanOrEqual(22)
        // The newest ones are those kept.
        expect(c.mirror.tasks.has(all.at(-1)!)).toBe(true)
        expect(c.mirror.tasks.has(all[0]!)).toBe(false)
      }
      const light = (m: Mirror) => [...m.tasks.values()].map((t) => JSON.parse(JSON.stringify(lightTask(t))) as unknown)
      expect(light(clients[1]!.mirror)).toEqual(light(clients[0]!.mirror))
      for (const c of clients) c.ws.close()
    } finally {
      await small.close()
    }
  })
})

describe('the event hub', () => {
  it('subscribes to the engine once for any number of clients, and answers each from its picture', async () => {
    const engine = h.engine as unknown as { events: { listenerCount: number } }
    const listening = engine.events.listenerCount
    const before = h.server.clients
    const clients = [client({ compact: true, deflate: true }), client({ compact: false, deflate: false }), client({ compact: true, deflate: false })]
    await Promise.all(clients.map((c) => c.opened))
    await waitFor('every snapshot', () => clients.every((c) => c.mirror.seq !== null))
    expect(h.server.clients).toBe(before + 3)
    expect(engine.events.listenerCount).toBe(listening)
    const [id] = ((await (await h.api('/api/tasks', post({ name: 'seen by all', job: 'sleep', params: { ms: 5 } }))).json()) as { ids: string[] }).ids
    await waitFor('every client to hold it done', () => clients.every((c) => c.mirror.tasks.get(id!)?.state === 'done'))
    // One picture answers all: every client comes to the same seq (a batch after the final, such
    // as the once-a-second stats, may reach one client a moment before another).
    await waitFor('every client at one seq', () => new Set(clients.map((c) => c.mirror.seq)).size === 1)
    expect(clients.map((c) => c.mirror.tasks.get(id!)?.state)).toEqual(['done', 'done', 'done'])
    for (const c of clients) c.ws.close()
    await waitFor('the sessions to go', () => h.server.clients === before)
  })
})
