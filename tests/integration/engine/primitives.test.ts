// ctx.queue, ctx.lock, ctx.submit and ctx.wait through a real engine, with real threads and
// processes: a queue or a lock is shared by tasks on different executors, a waiting call ends with
// its task's cancel, a dead holder frees its lock, a cancelled parent takes its children along.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { JobExecutor, Stats } from '../../../common/types'
import { useEngines, waitFinal, waitFor, waitState } from '../../helpers/engine'

const newEngine = useEngines()

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-prims-'))
const mod = path.join(dir, 'prims.mjs')
writeFileSync(
  mod,
  `const forever = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('cancelled'))))
export async function getOne(p, ctx) {
  ctx.progress(0, 'waiting')
  return await ctx.queue(p.queue).get()
}
export async function putAll(p, ctx) {
  const q = ctx.queue(p.queue, { maxSize: p.maxSize })
  for (const item of p.items) await q.put(item)
  return p.items.length
}
export async function joinQueue(p, ctx) {
  await ctx.queue(p.queue).join()
  return 'joined'
}
export async function holdLock(p, ctx) {
  const held = await ctx.lock(p.lock)
  ctx.progress(1, 'holding')
  if (p.crash) { await new Promise((r) => setTimeout(r, 50)); process.exit(1) }
  if (p.ms) { await new Promise((r) => setTimeout(r, p.ms)); await held.release(); return 'released' }
  await forever(ctx.signal)
}
export async function submitAndWait(p, ctx) {
  const { ids } = await ctx.submit(p.spec)
  const r = await ctx.wait(ids, p.wait)
  return { ids, done: r.done.map((t) => t.id), pending: r.pending.map((t) => t.id), where: ctx.executor }
}
export async function putRich(p, ctx) {
  await ctx.queue(p.queue).put({ map: new Map([['a', 1]]), when: new Date(5), bytes: new Uint8Array([1, 2]), nothing: undefined })
  return 'put'
}
export async function getRich(p, ctx) {
  const v = await ctx.queue(p.queue).get()
  return { map: v.map instanceof Map && v.map.get('a'), when: v.when instanceof Date && v.when.getTime(), bytes: v.bytes instanceof Uint8Array && [...v.bytes], nothing: 'nothing' in v && v.nothing === undefined }
}
export async function putFunction(p, ctx) {
  await ctx.queue(p.queue).put(() => 1)
}
export async function submitAndHang(p, ctx) {
  const { ids } = await ctx.submit(p.spec)
  ctx.progress(0, ids.join(','))
  await forever(ctx.signal)
}
`,
)

const stats = (engine: { stats(): Promise<Stats> }) => engine.stats()
const queueStat = async (engine: { stats(): Promise<Stats> }, name: string) => (await stats(engine)).queues.find((q) => q.name === name)

describe('ctx.queue', () => {
  it.each([
    ['process', 'thread'],
    ['thread', 'loop'],
    ['loop', 'process'],
  ] as [JobExecutor, JobExecutor][])('a producer on %s and a consumer on %s share one queue', async (from, to) => {
    const engine = newEngine()
    const queue = `q-${from}-${to}`
    const { ids: [consumer] } = await engine.submit({ job: 'consume', executor: to, params: { queue, count: 5 } })
    const { ids: [producer] } = await engine.submit({ job: 'produce', executor: from, params: { queue, items: 5, intervalMs: 10 } })
    const [c, p] = await waitFinal(engine, [consumer!, producer!])
    expect(p!.state).toBe('done')
    expect(c!.state).toBe('done')
    expect(c!.result).toEqual({ consumed: [1, 2, 3, 4, 5] })
  })

  it.each(['thread', 'process'] as const)('an item crosses from and to %s jobs as a structured clone; one that cannot be cloned fails its job', async (executor) => {
    const engine = newEngine()
    const queue = `rich-${executor}`
    const { ids: [getter] } = await engine.submit({ job: `${mod}#getRich`, executor, params: { queue } })
    const { ids: [putter] } = await engine.submit({ job: `${mod}#putRich`, executor, params: { queue } })
    const [g, p] = await waitFinal(engine, [getter!, putter!])
    expect(p!.state).toBe('done')
    expect(g!.result).toEqual({ map: 1, when: 5, bytes: [1, 2], nothing: true })
    const { ids: [bad] } = await engine.submit({ job: `${mod}#putFunction`, executor, params: { queue } })
    const [b] = await waitFinal(engine, [bad!])
    expect(b).toMatchObject({ state: 'failed', error: { message: '() => 1 could not be cloned.' } })
  })

  it('pipelines 5 × (1 s produce, 1 s consume) in about 6 s, producer on process, consumer on thread', async () => {
    const engine = newEngine()
    await engine.warm()
    const { ids } = await engine.submit({
      batch: {
        tasks: [
          { job: 'produce', executor: 'process', params: { queue: 'pipe', items: 5, intervalMs: 1000 } },
          { job: 'consume', executor: 'thread', params: { queue: 'pipe', count: 5, workMs: 1000 } },
        ],
      },
    })
    const [p, c] = await waitFinal(engine, ids, 30_000)
    expect(c!.result).toEqual({ consumed: [1, 2, 3, 4, 5] })
    const wall = Math.max(p!.endedAt!, c!.endedAt!) - Math.min(p!.startedAt!, c!.startedAt!)
    expect(wall).toBeGreaterThanOrEqual(5900)
    expect(wall).toBeLessThan(8500) // chained with `after` it takes 10 s
  })

  it('a full bounded queue makes put wait (backpressure)', async () => {
    const engine = newEngine()
    const { ids: [putter] } = await engine.submit({ job: `${mod}#putAll`, executor: 'thread', params: { queue: 'bp', maxSize: 2, items: [1, 2, 3, 4, 5] } })
    const q = await waitFor('a putter waiting on the full queue', async () => {
      const s = await queueStat(engine, 'bp')
      return s && s.size === 2 && s.putters === 1 ? s : undefined
    })
    expect(q.maxSize).toBe(2)
    expect((await engine.get(putter!)).state).toBe('running')
    const { ids: [consumer] } = await engine.submit({ job: 'consume', executor: 'process', params: { queue: 'bp', count: 5 } })
    const [p, c] = await waitFinal(engine, [putter!, consumer!])
    expect(p!.result).toBe(5)
    expect(c!.result).toEqual({ consumed: [1, 2, 3, 4, 5] })
  })

  it.each(['loop', 'thread', 'process'] as const)('a get waiting on %s ends with its task cancel and takes no item', async (executor) => {
    const engine = newEngine()
    const queue = `cancel-${executor}`
    const { ids: [id] } = await engine.submit({ job: `${mod}#getOne`, executor, params: { queue } })
    await waitFor('the getter to wait', async () => (await queueStat(engine, queue))?.getters === 1)
    await engine.cancel(id!)
    const t = await waitState(engine, id!, 'cancelled', 10_000)
    expect(t.reason).toBe('user')
    expect(await queueStat(engine, queue)).toBeUndefined() // nobody waits, nothing in it
    const { ids: [putter] } = await engine.submit({ job: `${mod}#putAll`, params: { queue, items: ['kept'] } })
    await waitState(engine, putter!, 'done')
    expect((await queueStat(engine, queue))?.size).toBe(1)
  })

  it('join waits until every item is marked with taskDone', async () => {
    const engine = newEngine()
    const { ids: [producer] } = await engine.submit({ job: 'produce', executor: 'thread', params: { queue: 'j', items: 3 } })
    await waitState(engine, producer!, 'done')
    const { ids: [joiner] } = await engine.submit({ job: `${mod}#joinQueue`, executor: 'process', params: { queue: 'j' } })
    await waitState(engine, joiner!, 'running')
    await new Promise((r) => setTimeout(r, 300))
    expect((await engine.get(joiner!)).state).toBe('running')
    expect((await queueStat(engine, 'j'))?.unfinished).toBe(3)
    const { ids: [consumer] } = await engine.submit({ job: 'consume', executor: 'loop', params: { queue: 'j', count: 3 } })
    const [c, j] = await waitFinal(engine, [consumer!, joiner!])
    expect(c!.state).toBe('done')
    expect(j!.result).toBe('joined')
  })

  it('taskDone more often than items is the job’s error', async () => {
    const engine = newEngine()
    writeFileSync(path.join(dir, 'extra.mjs'), `export default async (p, ctx) => { await ctx.queue('x').taskDone() }`)
    const { ids: [id] } = await engine.submit({ job: path.join(dir, 'extra.mjs'), executor: 'thread' })
    const t = await waitState(engine, id!, 'failed')
    expect(t.error?.message).toMatch(/taskDone\(\) called more times/)
  })
})

describe('ctx.lock', () => {
  const EXECUTORS = ['loop', 'thread', 'process'] as const
  const counterBatch = (lock: string | undefined, executorOf: (i: number) => JobExecutor) => ({
    batch: {
      tasks: [
        { job: 'counter', params: { cell: `cell-${lock ?? 'none'}`, set: 0 } },
        ...Array.from({ length: 10 }, (_, i) => ({
          job: 'counter',
          executor: executorOf(i),
          after: ['#0'],
          params: { cell: `cell-${lock ?? 'none'}`, add: i + 1, delayMs: 30, ...(lock ? { lock } : {}) },
        })),
        { job: 'counter', params: { cell: `cell-${lock ?? 'none'}` }, after: Array.from({ length: 10 }, (_, i) => `#${i + 1}`) },
      ],
    },
  })

  it('the shared counter gives 55 from 10 concurrent adds on every executor with the lock', async () => {
    const engine = newEngine({ limits: { thread: 3, process: 3 } })
    const { ids } = await engine.submit(counterBatch('n', (i) => EXECUTORS[i % 3]!))
    const all = await waitFinal(engine, ids, 60_000)
    expect(all.map((t) => t.state)).toEqual(all.map(() => 'done'))
    expect(all.at(-1)!.result).toEqual({ value: 55 })
    expect((await stats(engine)).locks).toEqual([])
  })

  it('without the lock the same adds lose updates', async () => {
    const engine = newEngine()
    const { ids } = await engine.submit(counterBatch(undefined, () => 'loop'))
    const all = await waitFinal(engine, ids, 60_000)
    expect(all.every((t) => t.state === 'done')).toBe(true)
    expect((all.at(-1)!.result as { value: number }).value).toBeLessThan(55)
  })

  it.each([
    ['cancelled', 'thread', false],
    ['cancelled', 'process', false],
    ['cancelled', 'loop', false],
    ['crashed', 'thread', true],
    ['crashed', 'process', true],
  ] as const)('a %s holder on %s releases the lock to the next waiter', async (_how, executor, crash) => {
    const engine = newEngine()
    const { ids: [holder] } = await engine.submit({ job: `${mod}#holdLock`, executor, params: { lock: 'L', crash } })
    await waitFor('the holder to hold', async () => (await stats(engine)).locks.find((l) => l.holder === holder))
    const { ids: [next] } = await engine.submit({ job: `${mod}#holdLock`, executor: executor === 'loop' ? 'thread' : 'loop', params: { lock: 'L', ms: 10 } })
    await waitFor('the second to wait', async () => (await stats(engine)).locks.find((l) => l.waiters.includes(next!)))
    expect((await engine.get(holder!)).locks).toEqual(['L'])
    if (!crash) await engine.cancel(holder!)
    const h = await waitState(engine, holder!, crash ? 'failed' : 'cancelled', 15_000)
    if (crash) expect(h.reason).toBe('crashed')
    const n = await waitState(engine, next!, 'done', 15_000)
    expect(n.result).toBe('released')
    expect((await engine.get(holder!)).locks).toEqual([])
  })
})

describe('ctx.submit and ctx.wait', () => {
  it.each(['loop', 'thread', 'process'] as const)('a job on %s submits children that record it as parent', async (executor) => {
    const engine = newEngine()
    const { ids: [parent] } = await engine.submit({
      job: `${mod}#submitAndWait`,
      executor,
      params: { spec: { batch: { tasks: [{ job: 'sleep', params: { ms: 20 } }, { job: 'sleep', executor: 'thread', params: { ms: 20 } }] } } },
    })
    const p = await waitState(engine, parent!, 'done', 20_000)
    const r = p.result as { ids: string[]; done: string[]; pending: string[]; where: string }
    expect(r.where).toBe(executor)
    expect(r.done.sort()).toEqual([...r.ids].sort())
    expect(r.pending).toEqual([])
    for (const id of r.ids) expect((await engine.get(id)).parent).toBe(parent)
    expect((await engine.get(parent!)).children?.sort()).toEqual([...r.ids].sort())
  })

  it('returnWhen first, firstError and a timeout', async () => {
    const engine = newEngine()
    const run = async (tasks: unknown[], wait: unknown) => {
      const { ids: [id] } = await engine.submit({ job: `${mod}#submitAndWait`, params: { spec: { batch: { tasks } }, wait } })
      const t = await waitState(engine, id!, ['done', 'failed'], 20_000)
      expect(t.state).toBe('done')
      return t.result as { ids: string[]; done: string[]; pending: string[] }
    }
    const first = await run([{ job: 'sleep', params: { ms: 50 } }, { job: 'sleep', params: { ms: 20_000 } }], { returnWhen: 'first' })
    expect(first.done).toEqual([first.ids[0]])
    expect(first.pending).toEqual([first.ids[1]])
    const firstError = await run(
      [{ job: 'sleep', params: { ms: 20_000 } }, { job: 'fail', params: { afterMs: 50 } }, { job: 'sleep', params: { ms: 20 } }],
      { returnWhen: 'firstError' },
    )
    expect(firstError.done.sort()).toEqual([firstError.ids[1], firstError.ids[2]].sort())
    expect(firstError.pending).toEqual([firstError.ids[0]])
    const timedOut = await run([{ job: 'sleep', params: { ms: 20_000 } }], { timeoutMs: 200 })
    expect(timedOut.done).toEqual([])
    expect(timedOut.pending).toEqual(timedOut.ids)
  })

  it.each(['loop', 'thread', 'process'] as const)('cancelling a parent on %s cancels its children, not the detached ones', async (executor) => {
    const engine = newEngine()
    const { ids: [parent] } = await engine.submit({
      job: `${mod}#submitAndHang`,
      executor,
      params: {
        spec: {
          batch: {
            tasks: [
              { job: 'sleep', params: { ms: 30_000 } },
              { job: 'sleep', params: { ms: 30_000 }, detached: true },
            ],
          },
        },
      },
    })
    const p = await waitFor('the children ids', async () => (await engine.get(parent!)).progressMessage || undefined)
    const [child, detached] = p.split(',')
    await waitState(engine, child!, 'running')
    await engine.cancel(parent!)
    const c = await waitState(engine, child!, 'cancelled', 10_000)
    expect(c.reason).toBe('parent')
    await waitState(engine, parent!, 'cancelled', 10_000)
    expect((await engine.get(detached!)).state).toBe('running')
    expect((await engine.get(detached!)).parent).toBe(parent)
  })

  it('a wait for an unknown task id is the job’s error, naming it', async () => {
    const engine = newEngine()
    writeFileSync(path.join(dir, 'wait-unknown.mjs'), `export default async (p, ctx) => { await ctx.wait(['nope']) }`)
    const { ids: [id] } = await engine.submit({ job: path.join(dir, 'wait-unknown.mjs'), executor: 'process' })
    const t = await waitState(engine, id!, 'failed')
    expect(t.error?.message).toBe('ctx.wait: unknown task id "nope"')
  })

  it('a spec from outside cannot claim a parent', async () => {
    const engine = newEngine()
    await expect(engine.submit({ job: 'sleep', params: { ms: 1 }, parent: 'x' } as never)).rejects.toThrow(/parent/)
  })
})
