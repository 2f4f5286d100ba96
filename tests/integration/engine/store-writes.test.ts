// The store writes a row only when it says something new (engine/store.ts `stored`): the submit's
// pending row and a claim's running row are not written again by later event batches, and what
// they say is what a restart finds. Real SQLite files, read back by a second connection.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SNAPSHOT_DEFAULTS, type TaskSnapshot } from '../../../common/types'
import { openDatabase } from '../../../engine/sqlite'
import { CHECKPOINT_THREAD_AFTER_ROWS, DB_FILE, SUBMIT_CHUNK, TaskStore } from '../../../engine/store'

const open: TaskStore[] = []
afterEach(() => {
  for (const s of open.splice(0)) s.close()
})

function snapshot(id: string, over: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id,
    name: id,
    executor: 'thread',
    state: 'pending',
    ...SNAPSHOT_DEFAULTS,
    attempt: 1,
    createdAt: 1,
    spec: { job: 'sleep' },
    ...over,
  } as TaskSnapshot
}

function setup(): { store: TaskStore; row(id: string): { state: string; data: TaskSnapshot }; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-store-writes-'))
  const { store } = TaskStore.open(dir)
  open.push(store)
  // Another connection: what a crash right now would leave.
  const db = openDatabase(path.join(dir, DB_FILE))
  const row = (id: string) => {
    const r = db.prepare('SELECT state, data FROM tasks WHERE id = ?').get(id)!
    return { state: String(r.state), data: JSON.parse(String(r.data)) as TaskSnapshot }
  }
  return { store, row, dir }
}

describe('store writes', () => {
  it("a pending task's row is the submit's until it changes state", () => {
    const { store, row } = setup()
    store.save([snapshot('a', { waiting: 'executor-limit' })])
    store.save([snapshot('a', { waiting: 'group-limit' })])
    expect(row('a')).toMatchObject({ state: 'pending', data: { state: 'pending', waiting: 'executor-limit' } })
    store.save([snapshot('a', { state: 'done', endedAt: 5, result: 7 })])
    expect(row('a')).toMatchObject({ state: 'done', data: { state: 'done', result: 7 } })
  })

  it('a claimed task stays running in the store while a batch still shows it pending (sent ahead to a pool)', () => {
    const { store, row, dir } = setup()
    store.save([snapshot('b')])
    // The claim of a row the submit wrote sets its state column only; whoever reads the row sees running.
    store.markStarted([snapshot('b')])
    store.save([snapshot('b')])
    expect(row('b').state).toBe('running')
    expect(store.history({ limit: 10 }).find((t) => t.id === 'b')?.state).toBe('running')
    store.save([snapshot('b', { state: 'running', startedAt: 3, worker: 'thread-1' })])
    expect(row('b')).toMatchObject({ state: 'running', data: { startedAt: 3, worker: 'thread-1' } })
    // A restart finds it running (to be interrupted), never pending (which would run it again).
    store.close()
    const reopened = TaskStore.open(dir)
    open.push(reopened.store)
    expect(reopened.saved.tasks.find((t) => t.id === 'b')?.state).toBe('running')
  })

  it('a row leaves out the fields at their defaults, and a restart reads it, and a row written whole, back as it was', () => {
    const { store, row, dir } = setup()
    const done = snapshot('c', { state: 'done', worker: 'thread 3', startedAt: 2, endedAt: 5, result: 7, after: ['a'], progress: 1 })
    store.save([done, snapshot('d', { waiting: 'executor-limit', result: false, batchId: 'b1' })])
    expect(Object.keys(row('c').data).sort()).toEqual(['after', 'attempt', 'createdAt', 'endedAt', 'executor', 'id', 'name', 'progress', 'result', 'spec', 'startedAt', 'state', 'worker'])
    // As versions before the compact rows wrote it: the whole snapshot.
    const whole = snapshot('e', { state: 'failed', reason: 'error', endedAt: 9, error: { message: 'no' } })
    const db = openDatabase(path.join(dir, DB_FILE))
    db.prepare('INSERT INTO tasks (id, created_at, state, ended_at, data) VALUES (?, ?, ?, ?, ?)').run('e', 1, 'failed', 9, JSON.stringify(whole))
    db.close()
    store.close()
    const { store: again, saved } = TaskStore.open(dir)
    open.push(again)
    expect(saved.tasks).toEqual([done, snapshot('d', { waiting: 'executor-limit', result: false, batchId: 'b1' }), whole])
  })

  it('a claim of many tasks (several statements of 64) marks each one running', () => {
    const { store, row } = setup()
    const many = Array.from({ length: 150 }, (_, i) => snapshot(`m${i}`))
    store.save([...many, snapshot('other')])
    store.markStarted(many)
    for (const t of many) expect(row(t.id).state).toBe('running')
    expect(row('other').state).toBe('pending')
  })

  it('rows of one write go through statements of 64, 16, 4 and 1 rows: every one of 85 is there', () => {
    const { store, row } = setup()
    const many = Array.from({ length: 85 }, (_, i) => snapshot(`r${i}`, { state: 'done', endedAt: i, result: i }))
    store.save(many)
    for (const t of many) expect(row(t.id)).toMatchObject({ state: 'done', data: { result: t.result } })
  })

  it('a claim takes no snapshot of a task whose row is written (its state column alone), and one of a task it inserts', () => {
    const { store, row } = setup()
    store.save([snapshot('s1')])
    const taken: string[] = []
    const task = (id: string) => ({ id, state: 'pending' as const, attempt: 1, snapshot: () => (taken.push(id), snapshot(id)) })
    store.markStarted([task('s1'), task('s2')])
    expect(taken).toEqual(['s2'])
    expect(row('s1').state).toBe('running')
    expect(row('s2')).toMatchObject({ state: 'running', data: { state: 'running' } })
  })

  it('a row that cannot be written (its data not JSON) is an error kept, not thrown; the next write clears it', () => {
    const { store, row } = setup()
    expect(store.save([snapshot('j', { state: 'done', endedAt: 1, result: 1n })])).toBe(false)
    expect(store.lastError).toMatch(/cannot write/)
    expect(store.save([snapshot('j', { state: 'done', endedAt: 1, result: 1 })])).toBe(true)
    expect(store.lastError).toBeNull()
    expect(row('j')).toMatchObject({ state: 'done', data: { result: 1 } })
  })

  it('a claim of a task the store has not written yet writes its whole row as running', () => {
    const { store, row } = setup()
    store.markStarted([snapshot('d', { name: 'restored' })])
    expect(row('d')).toMatchObject({ state: 'running', data: { state: 'running', name: 'restored' } })
  })

  it('a new attempt of the same task is written again', () => {
    const { store, row } = setup()
    store.save([snapshot('c')])
    store.markStarted([snapshot('c')])
    store.save([snapshot('c', { attempt: 2, waiting: 'retry-backoff' })])
    expect(row('c')).toMatchObject({ state: 'pending', data: { attempt: 2, waiting: 'retry-backoff' } })
  })

  it('a big submission is written in chunks, one per turn: a task claimed before its chunk is stored running, and every row is there when it resolves', async () => {
    const { store, row } = setup()
    const n = SUBMIT_CHUNK * 2 + 10
    const states = new Map<string, TaskSnapshot>()
    const tasks = Array.from({ length: n }, (_, i) => {
      const id = `t${i}`
      states.set(id, snapshot(id))
      return { id, snapshot: () => states.get(id)! }
    })
    const written = store.saveNew(tasks)
    // The first chunk is written before anything else can run.
    expect(row('t0').state).toBe('pending')
    const last = `t${n - 1}`
    // A claim of a task whose chunk has not come yet writes its whole row, as running.
    store.markStarted([states.get(last)!])
    expect(row(last)).toMatchObject({ state: 'running', data: { state: 'running' } })
    // An event batch meanwhile leaves the others to their chunk; one that finished is written.
    states.set(`t${n - 2}`, snapshot(`t${n - 2}`, { state: 'done', endedAt: 5, result: 1 }))
    store.save([states.get(`t${n - 3}`)!, states.get(`t${n - 2}`)!])
    expect(row(`t${n - 2}`).state).toBe('done')
    await written
    for (let i = 0; i < n - 3; i++) expect(row(`t${i}`).state).toBe('pending')
    expect(row(`t${n - 3}`).state).toBe('pending')
    expect(row(`t${n - 2}`)).toMatchObject({ state: 'done', data: { result: 1 } })
    // Still running: its chunk did not write it back as pending (a restart must not run it again).
    expect(row(last).state).toBe('running')
  })

  it('a store closed before the last chunk rejects the submission (it is not acknowledged)', async () => {
    const { store } = setup()
    const tasks = Array.from({ length: SUBMIT_CHUNK + 1 }, (_, i) => ({ id: `c${i}`, snapshot: () => snapshot(`c${i}`) }))
    const written = store.saveNew(tasks)
    store.close()
    open.splice(open.indexOf(store), 1)
    await expect(written).rejects.toMatchObject({ code: 'shutting-down' })
  })

  it('past a few thousand rows the checkpoints move to a thread of their own; every row is still there after a reopen', async () => {
    const { store, row, dir } = setup()
    store.save(Array.from({ length: 100 }, (_, i) => snapshot(`s${i}`)))
    expect(store.checkpointer).toBeNull()
    const n = CHECKPOINT_THREAD_AFTER_ROWS + 100
    store.save(Array.from({ length: n }, (_, i) => snapshot(`b${i}`)))
    expect(store.checkpointer).not.toBeNull()
    store.save(Array.from({ length: 2000 }, (_, i) => snapshot(`b${i}`, { state: 'done', endedAt: 2, result: i })))
    for (const until = Date.now() + 20_000; store.checkpointer!.checkpointed === 0; ) {
      if (Date.now() > until) throw new Error('no checkpoint from the thread in 20 s')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(row('b1999')).toMatchObject({ state: 'done', data: { result: 1999 } })
    store.close()
    open.splice(open.indexOf(store), 1)
    const reopened = TaskStore.open(dir)
    open.push(reopened.store)
    expect(reopened.saved.tasks).toHaveLength(100 + n)
    expect(reopened.saved.tasks.filter((t) => t.state === 'done')).toHaveLength(2000)
  })
})
