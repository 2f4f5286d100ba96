// The compact form of the events (common/wire.ts): what the decoder gives back is what the engine
// sent, less the detail-only fields, for any stream of snapshots and batches, fields the code does
// not know included; and it is compact (only what changed, strings once).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { currentAttempt, type EngineEvent, type EventBatch, type Snapshot, type Stats, type TaskSnapshot } from '../../../common/types'
import { copyFixed, copyTask, FIRST_PAGE, FIXED_LIST, lightTask, PAGE, WireDecoder, WireEncoder, type CompactMessage, type ServerMessage } from '../../../common/wire'
import { batch, snapshot, task } from '../../renderer/fixtures'

/** Both ends, with JSON between them as on the socket. */
function link() {
  const encoder = new WireEncoder()
  const decoder = new WireDecoder()
  const out: Array<{ message: ServerMessage; partial: boolean }> = []
  const wire: string[] = []
  const carry = (m: CompactMessage): void => {
    const text = JSON.stringify(m)
    wire.push(text)
    decoder.decode(JSON.parse(text) as CompactMessage, (message, partial) => out.push({ message, partial }))
  }
  const send = (e: EngineEvent): void => {
    if (e.type === 'batch') carry(encoder.batch(e))
    else for (const page of encoder.snapshot(e)) carry(page)
  }
  return { send, out, wire, encoder, decoder }
}

/** What a compact client should hold: the event less DETAIL_ONLY, as JSON carries it. */
function light(e: EngineEvent): unknown {
  return JSON.parse(JSON.stringify({ ...e, tasks: e.tasks.map(lightTask) }))
}

const STATES = ['pending', 'running', 'cancelling', 'done', 'failed', 'cancelled'] as const
const word = fc.stringMatching(/^[a-z]{1,6}$/)
/** A field TaskSnapshot does not have today (the cluster's `node`, `queue`, or any later one). */
const unknownField = fc.tuple(word.map((w) => `x${w}`), fc.jsonValue())
const change = fc.record(
  {
    state: fc.constantFrom(...STATES),
    name: fc.string(),
    progress: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
    worker: fc.option(fc.constantFrom('loop', 'thread 1', 'pid 42')),
    waiting: fc.option(fc.constantFrom('executor-limit', 'dependency' as const)),
    startedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
    endedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
    attempt: fc.nat({ max: 3 }),
    reason: fc.constantFrom(null, 'timeout', 'error'),
    result: fc.jsonValue(),
    error: fc.option(fc.record({ message: fc.string(), stack: fc.string(), name: fc.constantFrom('Error', 'TypeError') }, { requiredKeys: ['message'] })),
    attempts: fc.array(fc.record({ attempt: fc.nat(), worker: fc.constant(null), startedAt: fc.nat(), endedAt: fc.constant(null), outcome: fc.constant(null), reason: fc.constant(null), error: fc.constant(null) }), { maxLength: 2 }),
    spec: fc.record({ job: fc.constantFrom('sleep', 'spin'), params: fc.dictionary(word, fc.jsonValue()) }),
    node: fc.option(word),
    queue: fc.option(word),
  },
  { requiredKeys: [] },
)

/** A stream: snapshots and batches over a few task ids, each change a random set of fields, some gained, some lost. */
const streamArb = fc.array(
  fc.record({
    snapshot: fc.boolean(),
    ids: fc.uniqueArray(fc.integer({ min: 0, max: 12 }), { maxLength: 8 }),
    changes: fc.array(
      fc.record({
        set: change,
        extra: fc.array(unknownField, { maxLength: 2 }),
        drop: fc.subarray(['waiting', 'node', 'queue', 'xa', 'xb', 'group', 'attempts']),
        /** Its attempts the current one alone, as its fields say (nearly every task): sent as OWN_ATTEMPT. */
        own: fc.boolean(),
      }),
      { minLength: 8, maxLength: 8 },
    ),
    stats: fc.option(fc.record({ paused: fc.boolean(), throughput: fc.nat(), groupLimits: fc.dictionary(word, fc.nat()) })),
  }),
  { minLength: 1, maxLength: 12 },
)

describe('WireEncoder → WireDecoder', () => {
  it('gives back every event, less the detail-only fields, for any stream (unknown and lost fields included)', () => {
    fc.assert(
      fc.property(streamArb, (steps) => {
        const { send, out } = link()
        const engine = new Map<string, TaskSnapshot>()
        const expected: unknown[] = []
        let seq = 0
        let stats: Record<string, unknown> = {}
        steps.forEach((step, n) => {
          const tasks: TaskSnapshot[] = step.ids.map((i, k) => {
            const id = `t${i}`
            const { set, extra, drop, own } = step.changes[k]!
            const next: Record<string, unknown> = { ...(engine.get(id) ?? task({ id })), ...set }
            for (const [key, value] of extra) next[key] = value
            if (own) next.attempts = [currentAttempt(next as unknown as TaskSnapshot)]
            for (const key of drop) delete next[key]
            engine.set(id, next as unknown as TaskSnapshot)
            return next as unknown as TaskSnapshot
          })
          let event: EngineEvent
          if (n === 0 || step.snapshot) {
            event = snapshot(++seq, [...engine.values()])
          } else {
            const b: EventBatch = batch(++seq, tasks)
            if (step.stats) {
              stats = { ...stats, ...step.stats }
              b.stats = stats as unknown as Stats
            }
            event = b
          }
          send(event)
          expected.push(light(event))
        })
        const whole = out.filter((o) => !o.partial).map((o) => JSON.parse(JSON.stringify(o.message)) as unknown)
        expect(whole).toEqual(expected)
      }),
      { numRuns: 150 },
    )
  })

  it('pages a large snapshot, newest first; the first page alone is a partial snapshot, then the whole one', () => {
    const { send, out, wire } = link()
    const tasks = Array.from({ length: FIRST_PAGE + PAGE + 7 }, (_, i) => task({ id: `t${i}` }))
    const snap = snapshot(5, tasks)
    send(snap)
    expect(wire.map((w) => (JSON.parse(w) as CompactMessage).type)).toEqual(['snapshot', 'page', 'page'])
    expect(out.map((o) => o.partial)).toEqual([true, false])
    const first = out[0]!.message as Snapshot
    expect(first.tasks.map((t) => t.id)).toEqual(tasks.slice(-FIRST_PAGE).map((t) => t.id))
    expect(first.counters).toEqual(snap.counters)
    expect(JSON.parse(JSON.stringify(out[1]!.message))).toEqual(light(snap))
    // A batch after it changes one field of one task: its state, by number.
    const plain = batch(6, [{ ...tasks[3]!, state: 'running', startedAt: 123 }])
    send(plain)
    const last = JSON.parse(wire.at(-1)!) as { t: unknown[]; s?: string[] }
    expect(last.s).toEqual(['running']) // new; both field names came with the snapshot
    expect(last.t).toHaveLength(1)
    expect(wire.at(-1)!.length).toBeLessThan(JSON.stringify(plain).length / 3)
  })

  it('sends a task new to the client as what differs from the task before it in the message', () => {
    const { send, out, wire } = link()
    const backlog = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => task({ id: `t${from + i}`, name: `backlog ${from + i}`, group: 'backlog', spec: { job: 'sleep', params: { ms: 3_600_000 }, group: 'backlog' } }))
    const listed = backlog(0, 1000)
    const snap = snapshot(1, listed)
    send(snap)
    expect(JSON.parse(JSON.stringify(out.at(-1)!.message))).toEqual(light(snap))
    // Each task: its id and name (new strings) and its creation time; nothing the one before it has.
    const perTask = wire.join('').length / listed.length
    expect(perTask).toBeLessThan(80)
    expect(perTask).toBeLessThan(JSON.stringify(lightTask(listed[1]!)).length / 5)
    // A submission of alike tasks in a batch, after a change to a task the client holds.
    const submitted = backlog(1000, 500)
    const b = batch(2, [{ ...listed[0]!, state: 'running', worker: 'loop', group: null }, ...submitted])
    send(b)
    expect(JSON.parse(JSON.stringify(out.at(-1)!.message))).toEqual(light(b))
    expect(wire.at(-1)!.length / submitted.length).toBeLessThan(80)
  })

  it('sends a string once per connection and starts over at a snapshot', () => {
    const { send, wire } = link()
    const a = task({ id: 'a', name: 'nightly report', group: 'reports' })
    send(snapshot(1, [a]))
    const count = (text: string, s: string) => s.split(text).length - 1
    send(batch(2, [task({ id: 'b', name: 'nightly report', group: 'reports' })]))
    expect(count('nightly report', wire.join('\n'))).toBe(1)
    send(snapshot(3, [a]))
    expect(count('nightly report', wire.at(-1)!)).toBe(1)
  })

  it('passes forgotten tasks on by number, and both ends let go of them and of their ids', () => {
    const { send, out, wire, encoder, decoder } = link()
    send(snapshot(1, [task({ id: 'old-1', state: 'done' }), task({ id: 'old-2', state: 'done' }), task({ id: 'live', state: 'running' })]))
    // One forgotten task finished in this same batch; an id the client never held is left out.
    send({ ...batch(2, [task({ id: 'old-2', state: 'done', name: 'renamed' })]), forgot: ['old-1', 'old-2', 'never-sent'] })
    const b = out.at(-1)!.message as EventBatch
    expect(b.forgot).toEqual(['old-1', 'old-2'])
    expect(b.tasks.map((t) => t.id)).toEqual(['old-2'])
    const sent = JSON.parse(wire.at(-1)!) as { forgot: number[] }
    expect(sent.forgot).toHaveLength(2)
    // An id seen again (a task of that name, or the id itself) travels again under a new number.
    send(batch(3, [task({ id: 'new', name: 'old-1' })]))
    const again = out.at(-1)!.message as EventBatch
    expect(again.tasks[0]).toMatchObject({ id: 'new', name: 'old-1' })
    const numbers = JSON.parse(wire.at(-1)!) as { s: string[] }
    expect(numbers.s).toContain('old-1')
    // What each end holds for the connection (private: memory that must not grow with every task ever sent).
    expect([...(encoder as unknown as { held: Map<string, unknown> }).held.keys()].sort()).toEqual(['live', 'new'])
    expect([...(decoder as unknown as { tasks: Map<string, unknown> }).tasks.keys()].sort()).toEqual(['live', 'new'])
    expect((decoder as unknown as { strings: string[] }).strings.filter((x) => x === 'old-2')).toEqual([])
  })

  it('leaves a result and an error stack out: the detail fetches them', () => {
    const { send, out, wire } = link()
    const t = task({ id: 'a', state: 'failed', result: { big: 'x'.repeat(10_000) }, error: { message: 'boom', stack: 'Error: boom\n    at y'.repeat(100) } })
    send(snapshot(1, [t]))
    expect(wire.join('').length).toBeLessThan(1000)
    const got = (out[0]!.message as Snapshot).tasks[0]!
    expect(got.result).toBeUndefined()
    expect(got.error).toEqual({ message: 'boom' })
  })
})

describe('copyFixed', () => {
  it('copies every field of FIXED_LIST and nothing else, and drops an optional one the source lacks', () => {
    const from: Record<string, unknown> = {}
    for (const key of FIXED_LIST) from[key] = `${key} value`
    const t: Record<string, unknown> = { id: 'x', state: 'done' }
    copyFixed(t, from)
    expect(t).toStrictEqual({ id: 'x', state: 'done', ...from })
    const optional = ['parent', 'retryOf', 'queue']
    const without = Object.fromEntries(Object.entries(from).filter(([k]) => !optional.includes(k)))
    copyFixed(t, without)
    expect(t).toStrictEqual({ id: 'x', state: 'done', ...without })
  })
})

describe('copyTask', () => {
  it('copies a task as a spread does, whatever its fields: those a snapshot always has, a result or not, more or fewer', () => {
    const full = task({ id: 'a', state: 'done', result: 3, startedAt: 1, endedAt: 2 }) as unknown as Record<string, unknown>
    const { result: _result, ...noResult } = full
    const cases: Record<string, unknown>[] = [
      full,
      noResult,
      { ...full, result: undefined },
      { ...full, parent: 'p' },
      { ...full, xlater: { a: 1 } },
      { ...noResult, queue: 'q', node: 'n' },
      Object.fromEntries(Object.entries(full).filter(([k]) => k !== 'waiting')),
      { ...full, spec: undefined },
    ]
    for (const t of cases) {
      const copy = copyTask(t, 'b')
      expect(copy).toStrictEqual({ ...t, id: 'b' })
      expect(Object.keys(copy).sort()).toEqual(Object.keys({ ...t, id: 'b' }).sort())
      expect(copy).not.toBe(t)
    }
  })
})
