// The SQLite store with real files: history across restarts, kill -9 recovery, retention.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LOG_HEAD_BYTES } from '../../../engine/task-log'
import { useEngines, waitFinal, waitFor, waitState } from '../../helpers/engine'
import { aliveInGroup, pidOf } from '../../helpers/proc'

// Each test shuts its engines down itself; the fixture makes sure a failed test leaves none running.
const newEngine = useEngines()

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'taskloop-store-'))

describe('task store', () => {
  it('keeps every task across a clean restart', async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir })
    const { ids } = await a.submit({ batch: { tasks: [{ job: 'sleep', params: { ms: 5 } }, { job: 'fail', params: { message: 'nope', afterMs: 1 } }] } })
    const { ids: [long] } = await a.submit({ name: 'long', job: 'sleep', params: { ms: 60_000 } })
    await waitFinal(a, ids)
    await a.shutdown({ graceMs: 200 })
    const b = newEngine({ dataDir })
    const all = await b.list()
    expect(all.map((t) => [t.id, t.state, t.reason])).toEqual([
      [ids[0], 'done', null],
      [ids[1], 'failed', 'error'],
      [long, 'cancelled', 'shutdown'],
    ])
    expect((await b.get(ids[1]!)).error?.message).toBe('nope')
    expect((await b.stats()).counters).toMatchObject({ done: 1, failed: 1, cancelled: 1 })
    await b.shutdown()
  })

  it("a batch's settings, results and finish order come back after a restart", async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir })
    const { ids, batchId } = await a.submit({
      batch: { returnWhen: 'firstError', timeoutMs: 600_000, tasks: [{ job: 'sleep', params: { ms: 200 } }, { job: 'fail', params: { message: 'nope' } }] },
    })
    await waitFinal(a, ids)
    const before = await a.batch(batchId!)
    await a.shutdown({ graceMs: 200 })
    const b = newEngine({ dataDir })
    const after = await b.batch(batchId!)
    expect(after).toMatchObject({ returnWhen: 'firstError', failFast: true, timeoutMs: 600_000, state: 'failed', completed: before.completed })
    expect(after.results).toEqual(before.results)
    expect(after.results[1]).toEqual({ error: { name: 'Error', message: 'nope', code: null } })
    await b.shutdown()
  })

  it('after kill -9: every acknowledged task is there, running ones interrupted or requeued, none duplicated', async () => {
    const dataDir = tmp()
    const child = spawn(process.execPath, ['--import', './tests/helpers/ts-entry-register.mjs', 'tests/fixtures/engine-child.ts', dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const { treeWorker, ...ids } = await new Promise<Record<string, string>>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d
        if (out.includes('\n')) resolve(JSON.parse(out))
      })
      child.on('exit', (code) => reject(new Error(`engine child exited early: ${code}`)))
    })
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const pgid = pidOf(treeWorker!)
    expect(aliveInGroup(pgid).length).toBeGreaterThan(0) // kill -9 leaves the command's group behind…

    const engine = newEngine({ dataDir })
    await waitFor('the next start to end it', async () => aliveInGroup(pgid).length === 0, 3000)
    expect((await engine.snapshot()).notice).toMatch(/^1 process group left running by the previous run/)
    expect(await engine.get(ids.tree!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    const all = await engine.list()
    expect(all.map((t) => t.id).sort()).toEqual(Object.values(ids).sort())
    expect(await engine.get(ids.done!)).toMatchObject({ state: 'done' })
    expect(await engine.get(ids.interrupted!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    const requeued = await waitState(engine, ids.requeue!, 'done', 5000)
    expect(requeued.attempt).toBe(2)
    expect((await waitState(engine, ids.pending!, 'done', 5000)).state).toBe('done')
    await engine.shutdown()
  })

  it('retention keeps the newest finished tasks, in the store and in memory', async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir })
    const { ids } = await a.submit({ batch: { concurrency: 1, tasks: Array.from({ length: 6 }, (_, i) => ({ name: `t${i}`, job: 'sleep', params: { ms: 5 } })) } })
    await waitFinal(a, ids)
    await a.shutdown()
    const b = newEngine({ dataDir, retention: { keepFinished: 3 } })
    expect((await b.list()).map((t) => t.name)).toEqual(['t3', 't4', 't5'])
    await b.shutdown()
    const c = newEngine({ dataDir })
    expect(await c.list()).toHaveLength(3)
    await c.shutdown()
  })

  it('a flooding command: its log file keeps the head and the tail, memory keeps a bounded tail', async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir })
    // ~24 MB in ~300k numbered lines.
    const { ids: [id] } = await a.submit({ name: 'flood', command: 'seq -f "line %g of a flooding command, padded to make it longer" 1 300000' })
    const t = await waitState(a, id!, ['done', 'failed'], 60_000)
    expect(t.state).toBe('done')
    const detail = await a.get(id!)
    expect(detail.log.at(-1)!.line).toBe('line 300000 of a flooding command, padded to make it longer')
    const file = readFileSync(detail.logFile!, 'utf8')
    expect(file.length).toBeLessThan(2 * LOG_HEAD_BYTES)
    expect(file).toContain('stdout line 1 of a flooding command')
    expect(file).toMatch(/\[… \d+ bytes of output cut: the head and the tail are kept …\]/)
    expect(file.trimEnd().endsWith('line 300000 of a flooding command, padded to make it longer')).toBe(true)
    await a.shutdown()
    // After a restart the tail comes from the file.
    const b = newEngine({ dataDir })
    expect((await b.get(id!)).log.at(-1)!.line).toBe('line 300000 of a flooding command, padded to make it longer')
    await b.shutdown()
  })

  it('one Taskloop per data folder: a second engine on it runs without the store and says why', async () => {
    const dataDir = tmp()
    const { writeFileSync } = await import('node:fs')
    // A live process that is not us holds the lock (our parent, the test runner).
    writeFileSync(path.join(dataDir, 'taskloop.lock'), String(process.ppid))
    const e = newEngine({ dataDir })
    expect((await e.stats()).store?.error).toMatch(/in use by another Taskloop \(pid \d+\)/)
    await e.shutdown()
    // A lock left by a process that is gone is taken over.
    writeFileSync(path.join(dataDir, 'taskloop.lock'), '999999999')
    const f = newEngine({ dataDir })
    expect((await f.stats()).store).toMatchObject({ error: null })
    await f.shutdown()
  })

  it('memory keeps the newest finished tasks; history pages through the rest from the store', async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir, keepInMemory: 10 })
    const { ids } = await a.submit({ batch: { concurrency: 1, tasks: Array.from({ length: 30 }, (_, i) => ({ name: `t${i}`, job: 'sleep', params: { ms: 1 } })) } })
    await waitFor('all 30 to finish', async () => (await a.stats()).counters.done === 30 || (await a.history({ state: 'done', limit: 1000 })).length === 30)
    const live = await a.list()
    expect(live.length).toBeGreaterThanOrEqual(10)
    expect(live.length).toBeLessThanOrEqual(11)
    expect(live.at(-1)!.name).toBe('t29')
    // History: newest first, in pages, from the store.
    const page1 = await a.history({ limit: 12 })
    expect(page1.map((t) => t.name)).toEqual(Array.from({ length: 12 }, (_, i) => `t${29 - i}`))
    const page2 = await a.history({ limit: 100, before: page1.at(-1)!.id })
    expect(page1.length + page2.length).toBe(30)
    expect(new Set([...page1, ...page2].map((t) => t.id))).toEqual(new Set(ids))
    await expect(a.history({ limit: 5000 })).rejects.toMatchObject({ code: 'invalid', path: 'limit' })
    await a.shutdown()
    // A restart loads only the newest finished tasks into memory.
    const b = newEngine({ dataDir, keepInMemory: 10 })
    expect((await b.list()).map((t) => t.name)).toEqual(Array.from({ length: 10 }, (_, i) => `t${20 + i}`))
    expect(await b.history({ limit: 1000 })).toHaveLength(30)
    await b.shutdown()
  })
})

