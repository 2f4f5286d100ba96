// How the engine thread posts its event batches to the host (engine/thread/event-pack.ts,
// protocol.ts): the host gets back every task whole, as JSON would carry it, for any stream.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { currentAttempt, emptyCounters, isFinal, type EventBatch, type Snapshot, type TaskSnapshot } from '../../../common/types'
import { lightTask, WireDecoder, WireEncoder, type CompactMessage } from '../../../common/wire'
import { EventPacker, EventUnpacker, FIXED_FIELDS } from '../../../engine/thread/event-pack'
import { batchExtra } from '../../../engine/thread/protocol'
import { task } from '../../renderer/fixtures'

const batch = (over: Partial<EventBatch> = {}): EventBatch => ({ type: 'batch', seq: 3, tasks: [], counters: emptyCounters(), ...over })

const STATES = ['pending', 'running', 'cancelling', 'done', 'failed', 'cancelled'] as const
const word = fc.stringMatching(/^[a-z]{1,6}$/)
/** A change of the fields that may change (FIXED_FIELDS are set once, when a task is made). */
const change = fc.record(
  {
    state: fc.constantFrom(...STATES),
    progress: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
    worker: fc.option(fc.constantFrom('loop', 'thread 1', 'pid 42')),
    waiting: fc.option(fc.constantFrom('executor-limit', 'dependency' as const)),
    startedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
    endedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
    attempt: fc.nat({ max: 3 }),
    result: fc.jsonValue(),
    error: fc.option(fc.record({ message: fc.string(), name: fc.constantFrom('Error', 'TypeError') })),
    attempts: fc.array(fc.record({ attempt: fc.nat(), startedAt: fc.nat() }), { maxLength: 2 }),
    node: fc.option(word),
  },
  { requiredKeys: [] },
)
/** What a task is made with: its fixed fields, a few left out (parent, retryOf, queue are optional). */
const made = fc.record(
  {
    name: fc.string(),
    group: fc.option(word),
    createdAt: fc.nat(),
    spec: fc.record({ job: fc.constantFrom('sleep', 'spin'), params: fc.dictionary(word, fc.jsonValue()) }),
    parent: fc.option(word),
    retryOf: word,
    queue: word,
  },
  { requiredKeys: ['name', 'spec'] },
)

const streamArb = fc.array(
  fc.array(
    fc.record({
      id: fc.integer({ min: 0, max: 6 }),
      made,
      set: change,
      /** Fields it loses, and a field TaskSnapshot does not have today. */
      drop: fc.subarray(['waiting', 'node', 'xa']),
      extra: fc.option(fc.tuple(fc.constantFrom('xa', 'xb'), fc.jsonValue())),
      /** The very object of its last version again (an unchanged task in a later batch). */
      same: fc.boolean(),
      undefinedField: fc.boolean(),
      /** Its attempts the current one alone, as its fields say (nearly every task): sent as OWN_ATTEMPT. */
      own: fc.boolean(),
    }),
    { maxLength: 8 },
  ),
  { minLength: 1, maxLength: 10 },
)
type Step = (typeof streamArb extends fc.Arbitrary<infer T> ? T : never)[number]

/**
 * One step of the stream as the engine makes it: each change applied to its task's last version in
 * `engine` (or that very object again). With `undefinedFields`, a field set to undefined where the
 * step says so (JSON leaves it out).
 */
function engineStep(engine: Map<string, TaskSnapshot>, step: Step, o: { undefinedFields: boolean }): TaskSnapshot[] {
  const tasks: TaskSnapshot[] = []
  for (const c of step) {
    const id = `t${c.id}`
    const last = engine.get(id)
    let next: Record<string, unknown>
    if (last && c.same) next = last as unknown as Record<string, unknown>
    else {
      // A final task's id may be made again (a BullMQ retry takes the id over): new fixed fields.
      const fixed = last && !isFinal(last.state) ? Object.fromEntries(Object.entries(last).filter(([k]) => FIXED_FIELDS.has(k))) : c.made
      next = { ...task({ id }), ...(last && !isFinal(last.state) ? last : {}), ...fixed, ...c.set }
      for (const key of c.drop) delete next[key]
      if (c.extra) next[c.extra[0]] = c.extra[1]
      if (o.undefinedFields && c.undefinedField) next.xu = undefined
      if (c.own && next.startedAt !== undefined) next.attempts = [currentAttempt(next as unknown as TaskSnapshot)]
    }
    engine.set(id, next as unknown as TaskSnapshot)
    tasks.push(next as unknown as TaskSnapshot)
  }
  return tasks
}

describe('EventPacker → EventUnpacker', () => {
  it('gives back every task as its JSON, for any stream (fields gained and lost, a final id made again, the same object twice)', () => {
    fc.assert(
      fc.property(streamArb, (steps) => {
        const packer = new EventPacker()
        const unpacker = new EventUnpacker()
        const engine = new Map<string, TaskSnapshot>()
        const posted: string[] = []
        let seq = 0
        for (const step of steps) {
          const tasks = engineStep(engine, step, { undefinedFields: true })
          const b = batch({ seq: ++seq, tasks, ...(seq % 3 === 0 ? { notice: 'n' } : {}) })
          const text = packer.pack(b)
          posted.push(text)
          expect(unpacker.unpack(text)).toEqual(JSON.parse(JSON.stringify(b)))
        }
      }),
      { numRuns: 300 },
    )
  })

  it("gives a compact session the same tasks from the unpacker's entries as field by field, however it joined", () => {
    fc.assert(
      fc.property(streamArb, fc.nat({ max: 10 }), (steps, joinAt) => {
        const packer = new EventPacker()
        const unpacker = new EventUnpacker()
        const engine = new Map<string, TaskSnapshot>()
        /** The host's picture: the unpacker's objects, as the server's hub holds them. */
        const host = new Map<string, TaskSnapshot>()
        const snapshotOf = (tasks: Iterable<TaskSnapshot>): Snapshot => ({ type: 'snapshot', seq, tasks: [...tasks], counters: emptyCounters(), limits: {} as Snapshot['limits'], shutdown: null })
        const session = () => ({ encoder: new WireEncoder(), decoder: new WireDecoder(), heard: [] as TaskSnapshot[][] })
        const send = (s: ReturnType<typeof session>, messages: Iterable<CompactMessage>) => {
          for (const m of messages) s.decoder.decode(JSON.parse(JSON.stringify(m)) as CompactMessage, (e) => e.type === 'batch' && s.heard.push(e.tasks))
        }
        // From the start: with the entries, and without (a copy of each batch has none).
        const withEntries = session()
        const fieldByField = session()
        // Joins later, from the host's picture (the unpacker's objects), or from a copy of it (other objects).
        const late = session()
        const lateCopy = session()
        let seq = 0
        send(withEntries, withEntries.encoder.snapshot(snapshotOf([])))
        send(fieldByField, fieldByField.encoder.snapshot(snapshotOf([])))
        for (const step of steps) {
          if (seq === joinAt) {
            send(late, late.encoder.snapshot(snapshotOf(host.values())))
            send(lateCopy, lateCopy.encoder.snapshot(JSON.parse(JSON.stringify(snapshotOf(host.values()))) as Snapshot))
          }
          const tasks = engineStep(engine, step, { undefinedFields: false })
          const b = unpacker.unpack(packer.pack(batch({ seq: ++seq, tasks })))
          for (const t of b.tasks) host.set(t.id, t)
          send(withEntries, [withEntries.encoder.batch(b)])
          send(fieldByField, [fieldByField.encoder.batch({ ...b })])
          if (seq > joinAt) {
            send(late, [late.encoder.batch(b)])
            send(lateCopy, [lateCopy.encoder.batch(b)])
          }
          const light = b.tasks.map((t) => lightTask(JSON.parse(JSON.stringify(t)) as TaskSnapshot))
          expect(withEntries.heard.at(-1)).toEqual(light)
          expect(fieldByField.heard.at(-1)).toEqual(light)
          if (seq > joinAt) {
            expect(late.heard.at(-1)).toEqual(light)
            expect(lateCopy.heard.at(-1)).toEqual(light)
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('sends a fifth of the whole text for a submit that runs to its end (attempts made again from the task)', () => {
    const spec = (i: number) => ({ job: '/a/long/path/to/the/jobs/module.mjs#tiny', executor: 'thread' as const, params: { n: i } })
    const made = Array.from({ length: 100 }, (_, i) => task({ id: `t${i}`, name: `batch #${i}`, spec: spec(i), batchId: 'b-1', createdAt: 5 }))
    const done = made.map((t) => ({ ...t, state: 'done' as const, worker: 'thread 1', startedAt: 6, endedAt: 6, result: 1, attempts: [{ attempt: 1, worker: 'thread 1', startedAt: 6, endedAt: 6, outcome: 'done' as const, reason: null, error: null }] }))
    const packer = new EventPacker()
    const whole = JSON.stringify(batch({ tasks: made })).length + JSON.stringify(batch({ tasks: done })).length
    const packed = packer.pack(batch({ tasks: made })).length + packer.pack(batch({ tasks: done })).length
    expect(packed).toBeLessThan(whole / 5)
  })
})

describe('batchExtra', () => {
  it('takes what goes by structured clone: limits (they may be unbounded), shutdown status, stats', () => {
    expect(batchExtra(batch({ notice: 'hello' }))).toBeUndefined()
    const limits = { loop: Infinity, thread: 2, process: 3, command: 4 }
    expect(batchExtra(batch({ limits, shutdown: null }))).toEqual({ limits, shutdown: null })
    expect(batchExtra(batch({ stats: {} as EventBatch['stats'] }))).toEqual({ stats: {} })
  })
})
