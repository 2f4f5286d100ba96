// The one mirror of the engine (common/mirror.ts): the seq gate alone, the mirror on scripted
// event streams (every ordering case), then the mirror on a real engine whose stream loses batches.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Mirror, SeqGate, type MirrorChange } from '../../../common/mirror'
import type { EngineEvent, Snapshot } from '../../../common/types'
import { emptyCounters } from '../../../common/types'
import { Engine } from '../../../engine/engine'
import { waitFor } from '../../helpers/engine'
import { batch, snapshot, task } from '../../renderer/fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

/** A promise settled from outside: a snapshot fetch that answers when the test says. */
function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function gate() {
  const passed: EngineEvent[] = []
  const g = new SeqGate((e) => passed.push(e))
  const seqs = () => passed.map((e) => `${e.type === 'snapshot' ? 's' : 'b'}${e.seq}`)
  return { g, seqs }
}

describe('SeqGate', () => {
  it('passes a snapshot, then batches in seq order; drops those before any snapshot and those already in', () => {
    const { g, seqs } = gate()
    expect(g.push(batch(1, []))).toBe(true)
    expect(g.seq).toBeNull()
    g.push(snapshot(3, []))
    g.push(batch(2, []))
    g.push(batch(3, []))
    g.push(batch(4, []))
    g.push(batch(5, []))
    expect(seqs()).toEqual(['s3', 'b4', 'b5'])
    expect(g.seq).toBe(5)
  })

  it('reports a batch that skips seqs, without passing it', () => {
    const { g, seqs } = gate()
    g.push(snapshot(1, []))
    expect(g.push(batch(3, []))).toBe(false)
    expect(seqs()).toEqual(['s1'])
    expect(g.seq).toBe(1)
  })

  it('while a snapshot is fetched, holds batches and drops a snapshot heard meanwhile; then replays those newer than the fetched one', () => {
    const { g, seqs } = gate()
    g.push(snapshot(1, []))
    g.hold()
    expect(g.holding).toBe(true)
    g.push(batch(4, []))
    g.push(snapshot(4, []))
    g.push(batch(5, []))
    g.push(batch(6, []))
    expect(seqs()).toEqual(['s1'])
    expect(g.fetched(snapshot(5, []))).toBe(true)
    expect(g.holding).toBe(false)
    expect(seqs()).toEqual(['s1', 's5', 'b6'])
  })

  it('says so when the held batches skip seqs past the fetched snapshot', () => {
    const { g, seqs } = gate()
    g.hold()
    g.push(batch(9, []))
    expect(g.fetched(snapshot(7, []))).toBe(false)
    expect(seqs()).toEqual(['s7'])
  })

  it('takes a snapshot with a lower seq outside a fetch: the engine thread restarted and counts again', () => {
    const { g, seqs } = gate()
    g.push(snapshot(40, []))
    g.push(snapshot(0, []))
    g.push(batch(1, []))
    expect(seqs()).toEqual(['s40', 's0', 'b1'])
  })

  it('drops what it held when the fetch fails', () => {
    const { g, seqs } = gate()
    g.push(snapshot(1, []))
    g.hold()
    g.push(batch(2, []))
    g.release()
    expect(g.holding).toBe(false)
    g.push(batch(3, []))
    expect(seqs()).toEqual(['s1'])
  })
})

function mirrored(fresh?: () => Promise<Snapshot>, options: { keepForgotten?: boolean } = {}) {
  const fetch = vi.fn(fresh ?? (async () => snapshot(0, [])))
  const onError = vi.fn()
  const mirror = new Mirror({ snapshot: fetch, onError, ...options })
  const changes: MirrorChange[] = []
  mirror.onChange((c) => changes.push(c))
  return { mirror, fetch, onError, changes }
}

describe('Mirror', () => {
  it('starts from a snapshot in creation order, then applies deltas: changed tasks replaced, new ones appended, counters taken', () => {
    const { mirror, changes } = mirrored()
    const a = task({ id: 'a' })
    const b = task({ id: 'b', state: 'running' })
    mirror.push(snapshot(5, [b, a]))
    expect(mirror.seq).toBe(5)
    expect(mirror.order).toEqual(['a', 'b'])
    expect(mirror.limits?.thread).toBe(4)
    expect(changes.at(-1)).toMatchObject({ changed: null, added: [] })

    const c = task({ id: 'c', state: 'running' })
    const doneA = { ...a, state: 'done' as const }
    mirror.push(batch(6, [c, doneA]))
    expect(mirror.seq).toBe(6)
    expect(mirror.tasks.get('a')).toBe(doneA)
    expect(mirror.order).toEqual(['a', 'b', 'c'])
    expect([...mirror.tasks.keys()]).toEqual(['a', 'b', 'c'])
    expect(mirror.rank.get('c')).toBe(2)
    expect(mirror.counters).toMatchObject({ done: 1, running: 2 })
    expect(changes.at(-1)).toMatchObject({ changed: ['c', 'a'], added: ['c'] })
  })

  it('keeps the order array in place across batches (no copy per batch), and replaces it on a snapshot', () => {
    const { mirror } = mirrored()
    mirror.push(snapshot(1, [task({ id: 'a' })]))
    const order = mirror.order
    mirror.push(batch(2, [task({ id: 'b' })]))
    expect(mirror.order).toBe(order)
    mirror.push(snapshot(3, [task({ id: 'c' })]))
    expect(mirror.order).not.toBe(order)
    expect(mirror.order).toEqual(['c'])
  })

  it('ignores batches before any snapshot and those the snapshot already holds', () => {
    const { mirror, fetch, changes } = mirrored()
    mirror.push(batch(1, [task({ id: 'early' })]))
    mirror.push(snapshot(3, [task({ id: 'a' })]))
    mirror.push(batch(3, [task({ id: 'stale' })]))
    mirror.push(batch(2, [task({ id: 'older' })]))
    expect([...mirror.tasks.keys()]).toEqual(['a'])
    expect(changes).toHaveLength(1)
    expect(fetch).not.toHaveBeenCalled()
  })

  it('on a gap, fetches exactly one snapshot, holds what comes meanwhile, then applies the batches newer than it', async () => {
    const answer = deferred<Snapshot>()
    const { mirror, fetch } = mirrored(() => answer.promise)
    const a = task({ id: 'a' })
    mirror.push(snapshot(1, [a]))
    mirror.push(batch(4, [task({ id: 'skipped' })]))
    expect(fetch).toHaveBeenCalledTimes(1)
    expect(mirror.resyncing).toBe(true)
    expect(mirror.tasks.has('skipped')).toBe(false)
    const b = task({ id: 'b', state: 'running' })
    mirror.push(batch(6, [task({ id: 'x' })]))
    mirror.push(batch(11, [{ ...b, state: 'done' }]))
    mirror.push(batch(12, [task({ id: 'c' })]))
    expect(fetch).toHaveBeenCalledTimes(1)
    answer.resolve(snapshot(10, [{ ...a, state: 'done' }, b]))
    await flush()
    expect(mirror.resyncing).toBe(false)
    expect(fetch).toHaveBeenCalledTimes(1)
    expect(mirror.seq).toBe(12)
    expect(mirror.tasks.has('x')).toBe(false)
    expect(mirror.tasks.get('b')?.state).toBe('done')
    expect(mirror.order).toEqual(['a', 'b', 'c'])
  })

  it('takes a fresh snapshot when the engine has forgotten old finished tasks (its counters hold fewer)', async () => {
    const kept = [task({ id: 'b', state: 'done' }), task({ id: 'c', state: 'running' })]
    const { mirror, fetch } = mirrored(async () => snapshot(7, kept))
    mirror.push(snapshot(1, [task({ id: 'a', state: 'done' }), ...kept]))
    mirror.push(batch(2, [], { ...emptyCounters(), done: 1, running: 1 }))
    expect(fetch).toHaveBeenCalledTimes(1)
    await flush()
    expect([...mirror.tasks.keys()]).toEqual(['b', 'c'])
    expect(mirror.order).toEqual(['b', 'c'])
    expect(mirror.rank.get('c')).toBe(1)
    expect(mirror.tasks.size).toBe(2)
  })

  it('drops the tasks a batch says the engine forgot, without a snapshot, and tells its listeners to take the picture as new', () => {
    const { mirror, fetch, changes } = mirrored()
    mirror.push(snapshot(1, [task({ id: 'a', state: 'done' }), task({ id: 'b', state: 'done' }), task({ id: 'c', state: 'running' })]))
    mirror.push({ ...batch(2, [task({ id: 'c', state: 'done' })], { ...emptyCounters(), done: 2 }), forgot: ['a', 'gone-long-ago'] })
    expect(fetch).not.toHaveBeenCalled()
    expect(mirror.order).toEqual(['b', 'c'])
    expect(mirror.rank.get('b')).toBeLessThan(mirror.rank.get('c')!)
    expect(mirror.rank.has('a')).toBe(false)
    expect(mirror.tasks.get('c')?.state).toBe('done')
    expect(changes.at(-1)!.changed).toBeNull()
    // Nothing of it held: a plain batch for the listeners.
    mirror.push({ ...batch(3, [], { ...emptyCounters(), done: 2 }), forgot: ['a'] })
    expect(changes.at(-1)!.changed).toEqual([])
    // Not the oldest: the ones around it keep their order, and new tasks come after them.
    mirror.push(batch(4, [task({ id: 'd', state: 'done' }), task({ id: 'e', state: 'done' })], { ...emptyCounters(), done: 4 }))
    mirror.push({ ...batch(5, [], { ...emptyCounters(), done: 3 }), forgot: ['d'] })
    expect(mirror.order).toEqual(['b', 'c', 'e'])
    mirror.push(batch(6, [task({ id: 'f' })], { ...emptyCounters(), done: 3, pending: 1 }))
    expect(mirror.order).toEqual(['b', 'c', 'e', 'f'])
    const ranks = mirror.order.map((id) => mirror.rank.get(id)!)
    expect(ranks).toEqual([...ranks].sort((x, y) => x - y))
    expect(mirror.rank.size).toBe(4)
  })

  it('with keepForgotten, keeps them (taskloop run reports every task of its run)', () => {
    const { mirror, fetch } = mirrored(undefined, { keepForgotten: true })
    mirror.push(snapshot(1, [task({ id: 'a', state: 'done' }), task({ id: 'b', state: 'done' })]))
    mirror.push(batch(2, [], { ...emptyCounters(), done: 1 }))
    expect(fetch).not.toHaveBeenCalled()
    expect(mirror.tasks.size).toBe(2)
    expect(mirror.counters.done).toBe(1)
  })

  it('a failed resync leaves the picture as it was, says why, and the next gap asks again', async () => {
    const { mirror, fetch, onError } = mirrored(async () => {
      throw new Error('connection to the server lost')
    })
    mirror.push(snapshot(1, [task({ id: 'a' })]))
    mirror.push(batch(3, []))
    await flush()
    expect(onError).toHaveBeenCalledWith(new Error('connection to the server lost'))
    expect(mirror.resyncing).toBe(false)
    expect(mirror.seq).toBe(1)
    expect([...mirror.tasks.keys()]).toEqual(['a'])
    mirror.push(batch(4, []))
    expect(fetch).toHaveBeenCalledTimes(2)
  })

  it('keeps limits and the shutdown status from snapshots and the batches that carry them', () => {
    const { mirror } = mirrored()
    mirror.push(snapshot(0, []))
    const status = { phase: 'draining' as const, pending: 'cancel' as const, startedAt: 1, deadline: 5001, draining: [], forced: [] }
    mirror.push({ ...batch(1, []), shutdown: status, limits: { loop: 1, thread: 2, process: 3, command: 4 } })
    mirror.push(batch(2, []))
    expect(mirror.shutdown).toEqual(status)
    expect(mirror.limits).toEqual({ loop: 1, thread: 2, process: 3, command: 4 })
  })
})

describe('Mirror on a real engine', () => {
  let engine: Engine | null = null
  afterEach(async () => {
    await engine?.shutdown({ graceMs: 200 })
    engine = null
  })

  it('ends with exactly the engine’s tasks although every fifth batch is lost on the way', async () => {
    engine = new Engine({ limits: { loop: 50 }, batchIntervalMs: 10 })
    const e = engine
    let resyncs = 0
    const mirror = new Mirror({
      snapshot: () => {
        resyncs++
        return e.snapshot()
      },
    })
    let heard = 0
    const stop = e.subscribe((event) => {
      if (event.type === 'batch' && ++heard % 5 === 0) return
      mirror.push(event)
    })
    const { ids } = await e.submit({
      batch: { tasks: Array.from({ length: 60 }, (_, i) => ({ name: `tick ${i}`, job: 'ticker', params: { steps: 5, intervalMs: 15 } })) },
    })
    await waitFor('every task to finish in the engine', async () => (await e.stats()).counters.done === ids.length, 30_000)
    // Were the last batch the lost one, the next (the engine's metrics, once a second) shows the gap.
    await waitFor('the mirror to hold every task finished', async () => !mirror.resyncing && ids.every((id) => mirror.tasks.get(id)?.state === 'done'))
    stop()
    const truth = await e.list()
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)
    expect([...mirror.tasks.values()].sort(byId).map((t) => [t.id, t.state, t.progress])).toEqual(
      truth.sort(byId).map((t) => [t.id, t.state, t.progress]),
    )
    expect(heard).toBeGreaterThanOrEqual(5)
    expect(resyncs).toBeGreaterThanOrEqual(1)
    console.log(`mirror on a real engine: ${heard} batches heard, every fifth lost, ${resyncs} resyncs`)
  })
})
