// The SQLite store with real files: history across restarts, kill -9 recovery, retention.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../../../engine/data-folder'
import { Engine } from '../../../engine/engine'
import { openDatabase } from '../../../engine/sqlite'
import { SCHEMA_VERSION } from '../../../engine/store'
import type { Database } from '../../../engine/sqlite'
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

  it('a retry keeps the task it retries and its attempt numbers across a restart', async () => {
    const dataDir = tmp()
    const a = newEngine({ dataDir })
    const { ids: [id] } = await a.submit({ name: 'flaky', job: 'fail', params: { message: 'x', afterMs: 1 } })
    await waitState(a, id!, 'failed')
    const { id: again } = await a.retry(id!)
    await waitState(a, again, 'failed')
    await a.shutdown({ graceMs: 200 })
    const b = newEngine({ dataDir })
    expect(await b.get(again)).toMatchObject({ retryOf: id, attempt: 2, attempts: [expect.objectContaining({ attempt: 2 })] })
    await b.shutdown()
  })

  it('after kill -9: every acknowledged task is there, running ones interrupted or requeued, none duplicated', async () => {
    const dataDir = tmp()
    const child = spawn(process.execPath, ['./tests/helpers/ts-run.mjs', 'tests/fixtures/engine-child.ts', dataDir], {
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

  it('one Taskloop per data folder: a second engine on it refuses to start, naming the holder', async () => {
    const dataDir = tmp()
    const a = new Engine({ dataDir, owner: 'taskloop serve' })
    expect(() => new Engine({ dataDir })).toThrow(
      expect.objectContaining({ problem: 'in-use', message: `the data folder ${dataDir} is in use by another Taskloop (taskloop serve, pid ${process.pid})` }),
    )
    await a.shutdown()
    // Released at shutdown: the next one takes it.
    const b = new Engine({ dataDir })
    expect((await b.stats()).store).toMatchObject({ error: null })
    await b.shutdown()
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

/** The store of a data folder opened directly, as a tool (or another version of Taskloop) would. */
function raw(dataDir: string): Database {
  return openDatabase(path.join(dataDir, 'taskloop.db'))
}

/** Everything SQLite keeps of the store, in its main file (after a checkpoint), as a hash. */
function fingerprint(dataDir: string): string {
  return createHash('sha256').update(readFileSync(path.join(dataDir, 'taskloop.db'))).digest('hex')
}

/**
 * A data folder whose store holds `n` pending tasks, as a killed Taskloop leaves it: submitted,
 * stored, never run. Built by a real engine, then set back to pending with SQL.
 */
async function pendingStore(n: number): Promise<{ dataDir: string; ids: string[] }> {
  const dataDir = tmp()
  const e = new Engine({ dataDir })
  await e.pause()
  const { ids } = await e.submit({ batch: { tasks: Array.from({ length: n }, (_, i) => ({ name: `t${i}`, job: 'sleep', params: { ms: 1 } })) } })
  await e.shutdown({ graceMs: 0 })
  const db = raw(dataDir)
  db.exec(`UPDATE tasks SET state = 'pending', ended_at = NULL,
             data = json_set(data, '$.state', 'pending', '$.reason', NULL, '$.endedAt', NULL, '$.cancelRequestedAt', NULL);
           DELETE FROM ends; DELETE FROM claims;
           PRAGMA wal_checkpoint(TRUNCATE);`)
  db.close()
  return { dataDir, ids }
}

const userVersion = (dataDir: string): number => {
  const db = raw(dataDir)
  const v = Number(db.prepare('PRAGMA user_version').get()!.user_version)
  db.close()
  return v
}

describe('a store that cannot be used stops the start; nothing is deleted', () => {
  it('an older store (no version recorded) is migrated forward, its tasks kept', async () => {
    const { dataDir, ids } = await pendingStore(3)
    // As the first versions wrote it: user_version 0, no broken_tasks table.
    const db = raw(dataDir)
    db.exec(
      `DROP TABLE IF EXISTS broken_tasks; DROP TABLE ends; DROP TABLE claims; DROP INDEX IF EXISTS tasks_ended;
       CREATE INDEX tasks_created ON tasks (created_at); CREATE INDEX tasks_state ON tasks (state, ended_at);
       PRAGMA user_version = 0; PRAGMA wal_checkpoint(TRUNCATE);`,
    )
    db.close()
    const e = new Engine({ dataDir })
    expect((await waitFinal(e, ids)).map((t) => t.state)).toEqual(['done', 'done', 'done'])
    await e.shutdown()
    expect(userVersion(dataDir)).toBe(SCHEMA_VERSION)
    const check = raw(dataDir)
    expect(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('broken_tasks', 'ends', 'claims')").get()!.n).toBe(3)
    const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL").all()
    expect(indexes.map((r) => r.name)).toEqual(['tasks_ended'])
    check.close()
  })

  it('a newer store is refused untouched: none of its 300 pending tasks runs; --reset-store moves it aside', async () => {
    const { dataDir } = await pendingStore(300)
    const db = raw(dataDir)
    db.exec('PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);')
    db.close()
    const before = fingerprint(dataDir)
    let refused: unknown
    try {
      const e = new Engine({ dataDir })
      await e.shutdown({ graceMs: 0 })
    } catch (err) {
      refused = err
    }
    expect(refused).toBeInstanceOf(StoreError)
    expect(refused).toMatchObject({ problem: 'newer', message: expect.stringContaining(`written by a newer Taskloop (schema version 99; this one knows up to ${SCHEMA_VERSION})`) })
    expect((refused as Error).message).toContain(path.join(dataDir, 'taskloop.db'))
    expect(fingerprint(dataDir)).toBe(before)
    expect(userVersion(dataDir)).toBe(99)

    const fresh = new Engine({ dataDir, resetStore: true })
    expect(await fresh.list()).toEqual([])
    const aside = readdirSync(dataDir).filter((f) => /^taskloop\.db\.broken-\d{4}-\d\d-\d\dT[\d-]+\.\d+Z$/.test(f))
    expect(aside).toHaveLength(1)
    expect(createHash('sha256').update(readFileSync(path.join(dataDir, aside[0]!))).digest('hex')).toBe(before)
    expect((await fresh.snapshot()).notice).toContain(`moved aside as ${path.join(dataDir, aside[0]!)}`)
    await fresh.shutdown()
  })

  it('a corrupt store is refused and kept as it is; --reset-store moves it aside and starts a new one', async () => {
    const dataDir = tmp()
    const garbage = Buffer.from('this is not an SQLite database, and never was: '.repeat(200))
    writeFileSync(path.join(dataDir, 'taskloop.db'), garbage)
    expect(() => new Engine({ dataDir })).toThrow(
      expect.objectContaining({ problem: 'corrupt', message: expect.stringMatching(/^the task store .*taskloop\.db is corrupt \(file is not a database\)/) }),
    )
    expect(readFileSync(path.join(dataDir, 'taskloop.db')).equals(garbage)).toBe(true)
    const e = new Engine({ dataDir, resetStore: true })
    const { ids } = await e.submit({ job: 'sleep', params: { ms: 1 } })
    await waitFinal(e, ids)
    await e.shutdown()
    const aside = readdirSync(dataDir).find((f) => f.startsWith('taskloop.db.broken-'))!
    expect(readFileSync(path.join(dataDir, aside)).equals(garbage)).toBe(true)
    const again = new Engine({ dataDir })
    expect((await again.list()).map((t) => t.id)).toEqual(ids)
    await again.shutdown()
  })

  it('a folder that is not one (a file at its path) is refused as unreadable', () => {
    const file = path.join(tmp(), 'not-a-folder')
    writeFileSync(file, 'x')
    expect(() => new Engine({ dataDir: file })).toThrow(expect.objectContaining({ problem: 'unreadable', message: expect.stringContaining(file) }))
  })

  it('unreadable rows are set aside and reported; the other 298 of 300 pending tasks run, once', async () => {
    const { dataDir, ids } = await pendingStore(300)
    const [bad1, bad2] = [ids[4]!, ids[150]!]
    const db = raw(dataDir)
    db.prepare('UPDATE tasks SET data = ? WHERE id = ?').run('{"id": "half a row', bad1)
    db.prepare(`UPDATE tasks SET data = json_set(data, '$.state', 'exploded') WHERE id = ?`).run(bad2)
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    db.close()

    const e = new Engine({ dataDir })
    const notice = (await e.snapshot()).notice
    expect(notice).toMatch(/^2 tasks in .*taskloop\.db could not be read and were set aside, not run: /)
    expect(notice).toContain(`${bad1}, ${bad2}`)
    const good = ids.filter((id) => id !== bad1 && id !== bad2)
    expect((await waitFinal(e, good, 60_000)).every((t) => t.state === 'done')).toBe(true)
    await expect(e.get(bad1)).rejects.toMatchObject({ code: 'not-found' })
    await e.shutdown()

    const check = raw(dataDir)
    expect(check.prepare('SELECT id, error FROM broken_tasks ORDER BY id').all()).toEqual(
      [
        { id: bad1, error: 'not valid JSON' },
        { id: bad2, error: 'unknown state "exploded"' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    )
    check.close()
    // Set aside for good: the next start neither reports nor runs them again.
    const next = new Engine({ dataDir })
    expect((await next.snapshot()).notice).toBeUndefined()
    const all = await next.list()
    expect(all).toHaveLength(298)
    expect(all.every((t) => t.state === 'done' && t.attempt === 1)).toBe(true)
    await next.shutdown()
  })
})

describe('the data folder pulled away while running', () => {
  it('deleted: noticed without a submission, writes stop, submissions and retries are refused', async () => {
    const dataDir = path.join(tmp(), 'data')
    const e = new Engine({ dataDir, storeCheckMs: 100 })
    const { ids: [failed] } = await e.submit({ job: 'fail', params: { message: 'once', afterMs: 1 } })
    await waitFinal(e, [failed!])
    rmSync(dataDir, { recursive: true, force: true })
    const error = await waitFor('the loss to be noticed', async () => (await e.stats()).store?.error ?? undefined, 10_000)
    expect(error).toBe(
      `the data folder ${dataDir} was deleted or replaced while Taskloop was running: tasks are no longer saved and new ones are refused; restart Taskloop`,
    )
    await expect(e.submit({ job: 'sleep', params: { ms: 1 } })).rejects.toMatchObject({ code: 'unavailable', message: error })
    await expect(e.retry(failed!)).rejects.toMatchObject({ code: 'unavailable' })
    await e.shutdown()
    expect(existsSync(dataDir)).toBe(false)
  })

  it('its lock removed: the next submission is refused (another Taskloop may own the folder now)', async () => {
    const dataDir = tmp()
    const e = new Engine({ dataDir })
    await waitFinal(e, (await e.submit({ job: 'sleep', params: { ms: 1 } })).ids)
    rmSync(path.join(dataDir, 'taskloop.lock.db'))
    await expect(e.submit({ job: 'sleep', params: { ms: 1 } })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/^the lock of the data folder .* was removed or replaced while Taskloop was running/),
    })
    expect((await e.stats()).store?.error).toMatch(/lock .* removed/)
    await e.shutdown()
  })
})

describe('data folder permissions', () => {
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8)

  it.each([0o022, 0o000])('the folder is created 0700 and its files 0600 (umask %o)', async (umask) => {
    const old = process.umask(umask)
    try {
      const dataDir = path.join(tmp(), 'nested', 'data')
      const e = new Engine({ dataDir, owner: 'test' })
      const { ids } = await e.submit({ name: 'talks', command: 'echo secret output', env: { TOKEN: 'secret' } })
      await waitFinal(e, ids)
      const files = readdirSync(dataDir)
      expect(files).toEqual(expect.arrayContaining(['taskloop.db', 'taskloop.db-wal', 'taskloop.db-shm', 'taskloop.lock.db', 'taskloop.owner.json', 'logs']))
      expect({ dir: mode(dataDir), parent: mode(path.dirname(dataDir)), logs: mode(path.join(dataDir, 'logs')) }).toEqual({ dir: '700', parent: '700', logs: '700' })
      for (const f of files.filter((f) => f !== 'logs')) expect([f, mode(path.join(dataDir, f))]).toEqual([f, '600'])
      expect(mode(path.join(dataDir, 'logs', `${ids[0]}.log`))).toBe('600')
      await e.shutdown()
    } finally {
      process.umask(old)
    }
  })

  it('a folder an earlier version made (0755, files 0644) is narrowed when opened', async () => {
    const old = process.umask(0o022)
    try {
      const dataDir = path.join(tmp(), 'data')
      mkdirSync(dataDir, { mode: 0o755 })
      const first = new Engine({ dataDir })
      await first.shutdown()
      const { chmodSync } = await import('node:fs')
      chmodSync(dataDir, 0o755)
      for (const f of readdirSync(dataDir)) if (f.startsWith('taskloop.db')) chmodSync(path.join(dataDir, f), 0o644)
      const e = new Engine({ dataDir })
      expect(mode(dataDir)).toBe('700')
      for (const f of readdirSync(dataDir).filter((f) => f.startsWith('taskloop.db'))) expect([f, mode(path.join(dataDir, f))]).toEqual([f, '600'])
      await e.shutdown()
    } finally {
      process.umask(old)
    }
  })
})
