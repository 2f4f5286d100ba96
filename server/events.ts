// The WebSocket clients of `GET /api/events`: each gets a snapshot, then every event batch in seq
// order, plus the logs it watches. A client that cannot keep up is dropped; it reconnects and resyncs.
// One EventHub per server holds the engine's picture (a Mirror) while any client is connected, so a
// new client's snapshot, or a resync, is answered from memory at once instead of asking the engine
// for every task again. A client that asked for the compact form (common/wire.ts) gets each event
// through its own WireEncoder: what changed since what it holds, strings by number, snapshots in pages.
import type { WebSocket } from 'ws'
import { z } from 'zod'
import { taskIdSchema } from '../common/schema'
import { Mirror, SeqGate } from '../common/mirror'
import type { EngineEvent, Snapshot, TaskSnapshot } from '../common/types'
import { TaskloopError } from '../common/types'
import { COMPACT_PROTOCOL, WireEncoder } from '../common/wire'
import type { ClientMessage, CompactMessage, ServerMessage } from '../common/wire'
import type { EngineHandle } from '../engine/handle'

/** Past this much unsent data (beyond the last snapshot) the client is too slow; a fresh snapshot is cheaper than the backlog. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024
/**
 * Batches held while a snapshot's pages go out (each once the one before it is on the socket): a
 * client that takes no page while this many come (100 s of them at the engine's fastest) is too
 * slow as well: dropped, it reconnects and resyncs.
 */
export const MAX_WAITING_BATCHES = 2000
/**
 * The plain form's text of each batch, written once for every plain session (the hub hands each
 * session the same object).
 */
const plainText = new WeakMap<EngineEvent, string>()

function textOf(message: ServerMessage | CompactMessage): string {
  if (message.type !== 'batch' || !('tasks' in message)) return JSON.stringify(message)
  let text = plainText.get(message)
  if (text === undefined) plainText.set(message, (text = JSON.stringify(message)))
  return text
}

/** How long a big batch widens that bound (see `bigBatch` below). */
const BIG_BATCH_MS = 5000

const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('resync') }),
  z.strictObject({ type: z.literal('watch-log'), id: taskIdSchema }),
  z.strictObject({ type: z.literal('unwatch-log'), id: taskIdSchema }),
])

type Session = { event: (event: EngineEvent) => void; error: (message: string) => void }

/**
 * The engine's event stream, shared by every session of one server: one subscription and one
 * Mirror, from the server's start to its close. Kept warm on purpose: a tab opened on 100k tasks
 * gets its first rows from memory, instead of waiting seconds for the engine thread to copy every
 * task; the cost is one picture of the engine's live tasks in the host (the objects its events
 * carry, shared by every session). Sessions hear the events in the order the mirror applies them
 * (its seq and resync rules), and take a snapshot of its picture whenever they need one.
 */
export class EventHub {
  private mirror: Mirror | null = null
  private unsubscribe: (() => void) | null = null
  private readonly sessions = new Set<Session>()

  constructor(private readonly engine: EngineHandle) {}

  /** Sessions connected now. */
  get size(): number {
    return this.sessions.size
  }

  /** Joins a session: it hears the current picture (once there is one), then every applied event. */
  join(session: Session): () => void {
    this.sessions.add(session)
    if (this.mirror === null) this.start()
    else {
      const snapshot = this.snapshot()
      if (snapshot) session.event(snapshot)
    }
    return () => this.sessions.delete(session)
  }

  /** A fresh snapshot of the engine is on its way to every session (after a gap, or tasks the engine forgot). */
  get resyncing(): boolean {
    return this.mirror?.resyncing ?? false
  }

  /** The picture at the last applied seq; null before the first snapshot. */
  snapshot(): Snapshot | null {
    const m = this.mirror
    if (m === null || m.seq === null) return null
    const tasks = new Array<TaskSnapshot>(m.order.length)
    for (let i = 0; i < m.order.length; i++) tasks[i] = m.tasks.get(m.order[i]!)!
    return { type: 'snapshot', seq: m.seq, tasks, counters: m.counters, limits: m.limits!, shutdown: m.shutdown }
  }

  /** Subscribes to the engine (the server's start; a first session does it too). */
  start(): void {
    if (this.mirror !== null) return
    const mirror = new Mirror({
      snapshot: () => this.engine.snapshot(),
      onError: (e) => {
        for (const s of this.sessions) s.error(TaskloopError.from(e).message)
      },
    })
    // The engine's own events as they were applied (a snapshot with its notice, a batch with its stats).
    mirror.onChange(({ event }) => {
      for (const s of this.sessions) s.event(event)
    })
    this.mirror = mirror
    this.unsubscribe = this.engine.subscribe((event) => mirror.push(event))
  }

  /** The server's close. */
  stop(): void {
    this.unsubscribe?.()
    this.unsubscribe = null
    this.mirror = null
  }
}

export function serveEvents(ws: WebSocket, hub: EventHub, engine: EngineHandle): void {
  let closed = false
  const logs = new Map<string, () => void>()

  /** The last snapshot's size (all its pages): a client with 100k tasks has that much in flight right after it, and is not slow for it. */
  let snapshotBytes = 0
  /**
   * The largest batch of the last few seconds: one submit of 20k tasks makes a batch of megabytes,
   * which the client may still be reading a few batches later; a backlog of that much is not slowness either.
   */
  let bigBatch = { bytes: 0, at: 0 }
  /** `written`: called once the message is on the socket. */
  const send = (message: ServerMessage | CompactMessage, written?: () => void): void => {
    if (closed || ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES + snapshotBytes + bigBatch.bytes) {
      ws.terminate()
      return
    }
    const data = textOf(message)
    if (message.type === 'snapshot') snapshotBytes = data.length
    else if (message.type === 'page') snapshotBytes += data.length
    else if (message.type === 'batch') {
      const now = Date.now()
      if (data.length >= bigBatch.bytes || now - bigBatch.at > BIG_BATCH_MS) bigBatch = { bytes: data.length, at: now }
    }
    ws.send(data, written && ((e) => e || written()))
  }

  const encoder = ws.protocol === COMPACT_PROTOCOL ? new WireEncoder() : null
  /** The pages of a snapshot still to send, one at a time, and the events heard meanwhile. */
  let pages: Iterator<CompactMessage> | null = null
  let waiting: EngineEvent[] = []
  const nextPage = (): void => {
    if (pages === null || closed) return
    const page = pages.next()
    if (!page.done) {
      // The next page is encoded once this one is on the socket. Deflate runs on the thread pool
      // 16 KB at a time, each step waiting for a turn of this event loop: encoding pages back to
      // back (5,000 tasks a turn) starved it, and the first pages reached the client seconds late.
      const current = pages
      send(page.value, () => pages === current && setImmediate(nextPage))
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
    if (pages !== null) {
      waiting.push(event)
      if (waiting.length > MAX_WAITING_BATCHES) ws.terminate()
    }
    else send(encoder.batch(event))
  }

  // The hub hears the engine in seq order (common/mirror.ts); the gate here keeps each session to
  // it across the snapshots the session itself asks for. A resync is answered from the hub's
  // picture, as of the last batch sent (concurrent ones are not merged: a client that asks faster
  // than it reads is dropped by the backlog bound above, not served less).
  const gate = new SeqGate(deliver)
  const resync = (): void => {
    // The hub's next picture (its first, or a fresh one it is fetching) reaches every session when it comes.
    if (hub.resyncing) return
    const snapshot = hub.snapshot()
    if (snapshot) gate.push(snapshot)
  }
  const leave = hub.join({ event: (event) => gate.push(event), error: (error) => send({ type: 'error', error }) })

  const unwatch = (id: string): void => {
    logs.get(id)?.()
    logs.delete(id)
  }

  const handle = (message: ClientMessage): void => {
    switch (message.type) {
      case 'resync':
        resync()
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
    leave()
    for (const off of logs.values()) off()
    logs.clear()
  })
  ws.on('error', () => ws.terminate())
}
