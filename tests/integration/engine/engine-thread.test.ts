// The engine thread dying (here: a loop job calls process.exit, which ends the thread it runs on):
// the client starts a new one, tasks are recovered from the store, subscribers are told, no process is left.
// A job that keeps taking the thread down, or blocks its event loop, is failed and never runs again.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Mirror } from '../../../common/mirror'
import { TaskloopError, type EngineEvent, type EventBatch, type Snapshot } from '../../../common/types'
import { startEngineThread, whenAnswered } from '../../../engine/thread/client'
import { waitFor, waitState } from '../../helpers/engine'
import { aliveInGroup, pidOf, survivorsOf } from '../../helpers/proc'

/** toEqual as a predicate, for a wait that polls until two pictures agree. */
function equal(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b)
    return true
  } catch {
    return false
  }
}

const lines = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0)

describe('engine thread supervision', () => {
  it('restarts a dead engine thread, marks running tasks interrupted, tells subscribers, kills orphans', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-die-'))
    writeFileSync(path.join(dir, 'jobs.mjs'), 'export async function die() { await new Promise((r) => setTimeout(r, 300)); process.exit(3) }\n')
    const client = await startEngineThread({ cwd: dir, dataDir: path.join(dir, 'data') })
    const events: EngineEvent[] = []
    client.subscribe((e) => events.push(e))
    const { ids: [long] } = await client.submit({ name: 'long', job: 'sleep', params: { ms: 60_000 } })
    const { ids: [cmd] } = await client.submit({ name: 'tree', command: 'sleep 60 & sleep 60 & wait' })
    const pgid = pidOf(await waitFor('command pid', async () => (await client.get(cmd!)).worker ?? undefined))
    await waitFor('grandchildren', async () => aliveInGroup(pgid).length >= 3)
    await waitState(client, long!, 'running')
    await new Promise((r) => setTimeout(r, 100)) // one event batch: "running" is in the store
    await client.submit({ name: 'killer', job: './jobs.mjs#die' })

    const notice = await waitFor('a snapshot with a notice', async () => events.find((e): e is Snapshot => e.type === 'snapshot' && !!e.notice))
    expect(notice.notice).toMatch(/^The engine thread stopped unexpectedly \(exit code 3\) and was restarted/)
    expect(await client.get(long!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    expect(await client.get(cmd!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    await waitFor('the orphaned command group to be gone', async () => aliveInGroup(pgid).length === 0, 5000)
    // The new engine thread works.
    const { ids: [after] } = await client.submit({ job: 'sleep', params: { ms: 5 } })
    expect((await waitState(client, after!, 'done')).state).toBe('done')
    await client.shutdown()
  })

  it('fails a job that crashes the engine, never re-runs it, and keeps restarting past the old limit', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-crashloop-'))
    const ran = path.join(dir, 'ran.txt')
    writeFileSync(
      path.join(dir, 'jobs.mjs'),
      `import { appendFileSync } from 'node:fs'\nexport async function die() { appendFileSync(${JSON.stringify(ran)}, 'ran\\n'); await new Promise((r) => setTimeout(r, 20)); process.exit(7) }\n`,
    )
    const client = await startEngineThread({ cwd: dir, dataDir: path.join(dir, 'data') })
    const notices: string[] = []
    client.onNotice((n) => notices.push(n))
    // More crashes than the restart limit (5 a minute) allows, each with onInterrupt: requeue.
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      const { ids: [id] } = await client.submit({ name: `die ${i}`, job: './jobs.mjs#die', onInterrupt: 'requeue' })
      ids.push(id!)
      await waitFor(`restart ${i + 1}`, async () => notices.length > i, 20_000)
    }
    for (const id of ids) {
      const t = await client.get(id)
      expect(t).toMatchObject({ state: 'failed', reason: 'crashed', attempt: 1 })
      expect(t.error?.message).toBe('crashed the engine (exit code 7)')
    }
    expect(notices[0]).toMatch(/^The engine thread stopped unexpectedly \(exit code 7\) and was restarted\. Task \S+: crashed the engine/)
    const { ids: [after] } = await client.submit({ job: 'sleep', params: { ms: 5 } })
    expect((await waitState(client, after!, 'done')).state).toBe('done')
    expect(lines(ran)).toBe(6)
    await client.shutdown()
  }, 120_000)

  it('reports a blocked event loop at once, then ends the blocking task and restarts, recovering the others', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-blocked-'))
    const ran = path.join(dir, 'ran.txt')
    writeFileSync(
      path.join(dir, 'jobs.mjs'),
      `import { appendFileSync } from 'node:fs'\nexport async function block() { appendFileSync(${JSON.stringify(ran)}, 'ran\\n'); await null; for (;;) {} }\n`,
    )
    const client = await startEngineThread({ cwd: dir, dataDir: path.join(dir, 'data'), blockedAfterMs: 2000 })
    const events: EngineEvent[] = []
    client.subscribe((e) => events.push(e))
    const { ids: [cmd] } = await client.submit({ name: 'tree', command: 'sleep 300 & sleep 300 & wait' })
    const pgid = pidOf(await waitFor('command pid', async () => (await client.get(cmd!)).worker ?? undefined))
    await waitFor('grandchildren', async () => aliveInGroup(pgid).length >= 3)
    const { ids: [queued] } = await client.submit({ name: 'queued', job: 'sleep', params: { ms: 5 }, after: [cmd!] })
    const { ids: [blocker] } = await client.submit({ name: 'blocker', job: './jobs.mjs#block', killGraceMs: 1500, onInterrupt: 'requeue' })

    // Found within a few seconds; from then on every call fails at once, naming the task.
    const error = await waitFor('the engine to be reported blocked', async () => {
      const e = await client.stats().then(() => null, (x: unknown) => x)
      return e instanceof TaskloopError && e.code === 'engine-blocked' && e
    }, 10_000)
    expect(error.message).toMatch(new RegExp(`loop task ${blocker} \\(blocker\\) has kept its event loop busy for \\d+\\.\\d s`))
    const asked = Date.now()
    await expect(client.cancel(blocker!)).rejects.toMatchObject({ code: 'engine-blocked' })
    expect(Date.now() - asked).toBeLessThan(1000)
    const notice = events.find((e): e is EventBatch => e.type === 'batch' && e.notice !== undefined)
    expect(notice?.notice).toMatch(/^the engine is blocked: loop task/)
    // A subscriber arriving now gets its snapshot once an engine answers.
    const late: EngineEvent[] = []
    client.subscribe((e) => late.push(e))

    // After the task's kill grace: a new engine thread, the blocker failed for good, the rest recovered.
    const restart = await waitFor('a restart snapshot', async () => events.find((e): e is Snapshot => e.type === 'snapshot' && !!e.notice), 20_000)
    expect(restart.notice).toMatch(new RegExp(`^The engine thread was blocked for [\\d.]+ s and was ended and restarted\\. Task ${blocker}: blocked the event loop`))
    expect(await client.get(blocker!)).toMatchObject({ state: 'failed', reason: 'crashed', attempt: 1 })
    expect((await client.get(blocker!)).error?.message).toMatch(/^blocked the event loop for [\d.]+ s$/)
    expect(await client.get(cmd!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    const joined = await waitFor('the late subscriber to join', async () => late.find((e): e is Snapshot => e.type === 'snapshot'))
    expect(joined.tasks.find((t) => t.id === blocker)?.state).toBe('failed')
    expect(await survivorsOf(pgid, 5000)).toEqual([])
    // Its dependency failed: the queued task is cancelled, not lost.
    expect((await waitState(client, queued!, 'cancelled')).reason).toBe('dependency')
    const { ids: [after] } = await client.submit({ job: 'sleep', params: { ms: 5 } })
    expect((await waitState(client, after!, 'done')).state).toBe('done')
    expect(lines(ran)).toBe(1)
    await client.shutdown()
  }, 60_000)

  it("answers a call made before the engine got busy with its own long work (a huge batch), not with engine-blocked", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-busy-'))
    // A watchdog this eager calls the submit of 50k tasks a block, whatever the machine.
    const client = await startEngineThread({ dataDir: path.join(dir, 'data'), blockedAfterMs: 20 })
    const notices: string[] = []
    client.onNotice((n) => notices.push(n))
    await client.pause()
    const tasks = Array.from({ length: 50_000 }, (_, i) => ({ job: 'sleep', params: { ms: i } }))
    // A call made while the engine is busy is refused before it is sent (so asking again is safe);
    // one sent before must be answered: refused, it would be accepted all the same, twice once asked again.
    const { ids } = await waitFor('a submit the engine answers', () => client.submit({ batch: { tasks } }).catch(() => undefined), 60_000)
    expect(ids).toHaveLength(50_000)
    // The watchdog did see the engine busy: without that, this test would prove nothing.
    expect(notices.some((n) => /the engine's own work/.test(n))).toBe(true)
    // Calls made while it is still busy (sending the batch's events) are refused, and answered
    // after: whenAnswered (what serve's first calls go through) asks again until then.
    let asked = 0
    const stats = await whenAnswered(() => (asked++, client.stats()), 10)
    expect(stats.counters.pending).toBe(50_000)
    expect(asked).toBeGreaterThanOrEqual(1)
    await client.shutdown({ graceMs: 0 })
  })

  it('a batch the engine thread cannot write is lost whole: both ends start over, a subscriber resyncs and ends with every task right', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-lost-batch-'))
    const broke = path.join(dir, 'broke.txt')
    // A loop job runs on the engine thread: it makes the next batch's JSON throw once.
    writeFileSync(
      path.join(dir, 'jobs.mjs'),
      `import { writeFileSync } from 'node:fs'
export async function breakNextBatch() {
  const write = JSON.stringify
  JSON.stringify = function (value, ...rest) {
    if (value && Array.isArray(value.t)) {
      JSON.stringify = write
      writeFileSync(${JSON.stringify(broke)}, 'broke')
      throw new Error('cannot write this batch')
    }
    return write.call(this, value, ...rest)
  }
  return 1
}
`,
    )
    const client = await startEngineThread({ cwd: dir })
    const mirror = new Mirror({ snapshot: () => client.snapshot() })
    const off = client.subscribe((e) => mirror.push(e))
    // Tasks the host holds (pending, then running) when the batch is lost; they finish after it.
    const { ids } = await client.submit({ batch: { tasks: Array.from({ length: 20 }, (_, i) => ({ name: `sleeper ${i}`, job: 'sleep', params: { ms: 300 + 10 * i } })) } })
    await waitState(client, ids[0]!, 'running')
    await client.submit({ name: 'breaker', job: './jobs.mjs#breakNextBatch' })
    await waitFor('the lost batch', async () => existsSync(broke))
    const { ids: later } = await client.submit({ batch: { tasks: Array.from({ length: 5 }, (_, i) => ({ name: `later ${i}`, job: 'sleep', params: { ms: 5 } })) } })
    for (const id of [...ids, ...later]) await waitState(client, id, 'done')
    // A snapshot may be ahead of the last batch sent (changes still waiting for the next one): the
    // mirror must come to hold the engine's picture, with nothing left waiting.
    const engine = await waitFor('the mirror to hold the engine picture', async () => {
      const now = await client.snapshot()
      if (mirror.seq === null || mirror.seq < now.seq || mirror.resyncing) return undefined
      return now.tasks.every((t) => equal(mirror.tasks.get(t.id), t)) ? now : undefined
    })
    expect(mirror.tasks.size).toBe(engine.tasks.length)
    for (const t of engine.tasks) expect(mirror.tasks.get(t.id)).toEqual(t)
    off()
    await client.shutdown()
  })
})

describe('engine thread events', () => {
  it('a batch names the finished tasks the engine let go of (keepInMemory): a subscriber drops them with no snapshot', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-forgot-'))
    const client = await startEngineThread({ cwd: dir, dataDir: path.join(dir, 'data'), keepInMemory: 10 })
    let snapshots = 0
    const mirror = new Mirror({
      snapshot: () => {
        snapshots++
        return client.snapshot()
      },
    })
    const forgot: string[] = []
    const off = client.subscribe((e) => {
      if (e.type === 'batch' && e.forgot) forgot.push(...e.forgot)
      mirror.push(e)
    })
    const { ids } = await client.submit({ batch: { tasks: Array.from({ length: 60 }, (_, i) => ({ name: `t${i}`, job: 'sleep', params: { ms: 1 } })) } })
    // Tasks forgotten cannot be asked for one by one (get knows live tasks): count them done.
    const engine = await waitFor('every task done and the mirror holding the engine picture', async () => {
      const now = await client.snapshot()
      if (mirror.seq === null || mirror.seq < now.seq || now.counters.done + forgot.length < 60) return undefined
      return mirror.tasks.size === now.tasks.length ? now : undefined
    })
    expect(snapshots).toBe(0)
    expect(forgot.length).toBeGreaterThanOrEqual(60 - 11)
    expect(new Set(forgot).size).toBe(forgot.length)
    expect([...mirror.tasks.keys()].sort()).toEqual(engine.tasks.map((t) => t.id).sort())
    // Gone from memory, still in the store's history.
    const history = await client.history({ limit: 100 })
    expect(history.find((t) => t.id === ids[0])?.state).toBe('done')
    off()
    await client.shutdown()
  })
})
