// One WebSocket client of `GET /api/events`: a snapshot, then every event batch in seq order,
// plus the logs it watches. A client that cannot keep up is dropped; it reconnects and resyncs.
// A client that asked for the compact form (common/wire.ts) gets each event through its own
// WireEncoder: what changed since what it holds, strings by number, snapshots in pages.
import type { WebSocket } from 'ws'
import { z } from 'zod'
import { taskIdSchema } from '../common/schema'
import { SeqGate } from '../common/mirror'
import type { EngineEvent, Snapshot } from '../common/types'
import { TaskloopError } from '../common/types'
import { COMPACT_PROTOCOL, WireEncoder } from '../common/wire'
import type { ClientMessage, CompactMessage, ServerMessage } from '../common/wire'
import type { EngineHandle } from '../engine/handle'

/** Past this much unsent data (beyond the last snapshot) the client is too slow; a fresh snapshot is cheaper than the backlog. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024

const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resync') }),
  z.strictObject({ type: z.literal('watch-log'), id: taskIdSchema }),
  z.strictObject({ type: z.literal('unwatch-log'), id: taskIdSchema }),
])

export function serveEvents(ws: WebSocket, engine: EngineHandle): void {
  let closed = false
  const logs = new Map<string, () => void>()

  /** The last snapshot's size (all its pages): a client with 100k tasks has that much in flight right after it, and is not slow for it. */
  let snapshotBytes = 0
  const send = (message: ServerMessage | CompactMessage): void => {
    if (closed || ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES + snapshotBytes) {
      ws.terminate()
      return
    }
    const data = JSON.stringify(message)
    if (message.type === 'snapshot') snapshotBytes = data.length
    else if (message.type === 'page') snapshotBytes += data.length
    ws.send(data)
  }

  const encoder = ws.protocol === COMPACT_PROTOCOL ? new WireEncoder() : null
  /** The pages of a snapshot still to send, one per turn of the event loop, and the events heard meanwhile. */
  let pages: Iterator<CompactMessage> | null = null
  let waiting: EngineEvent[] = []
  const nextPage = (): void => {
    if (pages === null || closed) return
    const page = pages.next()
    if (!page.done) {
      send(page.value)
      // The first page is on its way (the table paints from it) while the next one is encoded.
      setImmediate(nextPage)
      return
    }
    pages = null
    const events = waiting
    waiting = []
    for (const event of events) deliver(event)
  }
  const deliver = (event: EngineEvent): void => {
    if (encoder === null) return send(event)
    if (event.type === 'snapshot') {
      // A newer picture: what was left of the last one, and what came after it, is in this one.
      waiting = []
      pages = encoder.snapshot(event)
      return nextPage()
    }
    // Batches follow the snapshot's last page (the encoder holds its tasks only then).
    if (pages !== null) waiting.push(event)
    else send(encoder.batch(event))
  }

  // The same seq order as every mirror (common/mirror.ts), but a session keeps no tasks: it
  // forwards events, and answers each resync the client asks for with a snapshot of its own
  // (concurrent ones are not merged: a client that asks faster than it reads is dropped by the
  // backlog bound above, not served less).
  const gate = new SeqGate(deliver)
  const resync = async (): Promise<void> => {
    gate.hold()
    let snapshot: Snapshot
    try {
      snapshot = await engine.snapshot()
    } catch (e) {
      gate.release()
      send({ type: 'error', error: TaskloopError.from(e).message })
      return
    }
    if (!gate.fetched(snapshot)) void resync()
  }

  // The subscription opens with the engine's snapshot, then its batches (TaskloopApi.subscribe).
  const unsubscribe = engine.subscribe((event) => {
    if (!gate.push(event)) void resync()
  })

  const unwatch = (id: string): void => {
    logs.get(id)?.()
    logs.delete(id)
  }

  const handle = (message: ClientMessage): void => {
    switch (message.type) {
      case 'resync':
        void resync()
        return
      case 'watch-log': {
        const { id } = message
        unwatch(id)
        try {
          logs.set(id, engine.subscribeLog(id, (lines) => send({ type: 'log', id, lines })))
        } catch (e) {
          send({ type: 'error', error: TaskloopError.from(e).message })
        }
        return
      }
      case 'unwatch-log':
        unwatch(message.id)
        return
    }
  }

  ws.on('message', (data, isBinary) => {
    let value: unknown
    try {
      value = JSON.parse(isBinary ? '' : data.toString())
    } catch {
      send({ type: 'error', error: 'expected a JSON message' })
      return
    }
    const parsed = clientMessageSchema.safeParse(value)
    if (!parsed.success) {
      send({ type: 'error', error: `unknown message: ${parsed.error.issues[0]?.message ?? 'invalid'}` })
      return
    }
    handle(parsed.data)
  })

  ws.on('close', () => {
    closed = true
    unsubscribe()
    for (const off of logs.values()) off()
    logs.clear()
  })
  ws.on('error', () => ws.terminate())
}
