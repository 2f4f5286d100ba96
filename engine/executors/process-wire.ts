// The process pool's channel carries JSON lines (fork's `serialization: 'json'`): for the many
// small messages of a stream of tiny runs it costs both sides far less than 'advanced' (a V8
// serializer built per message). Runs, results and reports are JSON already; only the items a
// job passes to the engine and gets back (ctx.queue, ctx.submit, ctx.wait) must keep their
// structured-clone meaning, as on a thread: those travel as V8-serialized bytes in base64.
import type { Serializable } from 'node:child_process'
import type { JobCall } from '../../common/types'
import type { FromWorker, ToWorker } from './protocol'

/** A structured-clone value inside a JSON message. */
interface Cloned {
  v8: string
}

// node:v8 is loaded at the first such item: most children never carry one, and it costs a child's start.
const v8 = (): typeof import('node:v8') => process.getBuiltinModule('node:v8')
const pack = (value: unknown): Cloned => ({ v8: v8().serialize(value).toString('base64') })
const unpack = (c: Cloned): unknown => v8().deserialize(Buffer.from(c.v8, 'base64'))

/** Throws (DataCloneError) for an item that cannot be cloned: the job's own error, as on a thread. */
export function toParent(msgs: FromWorker[]): Serializable {
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!
    if (m.type === 'call') msgs[i] = { ...m, req: pack(m.req) as unknown as JobCall }
  }
  return msgs as unknown as Serializable
}

export function fromChild(data: unknown): FromWorker[] {
  const msgs = data as FromWorker[]
  for (const m of msgs) if (m.type === 'call') m.req = unpack(m.req as unknown as Cloned) as JobCall
  return msgs
}

export function toChild(msg: ToWorker): Serializable {
  return (msg.type === 'reply' && msg.ok ? { ...msg, value: pack(msg.value) } : msg) as Serializable
}

export function fromParent(data: unknown): ToWorker {
  const msg = data as ToWorker
  if (msg.type === 'reply' && msg.ok) msg.value = unpack(msg.value as Cloned)
  return msg
}
