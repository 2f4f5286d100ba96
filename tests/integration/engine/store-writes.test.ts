// The store writes a row only when it says something new (engine/store.ts `stored`): the submit's
// pending row and a claim's running row are not written again by later event batches, and what
// they say is what a restart finds. Real SQLite files, read back by a second connection.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SNAPSHOT_DEFAULTS, type TaskSnapshot } from '../../../common/types'
import { OWN_ATTEMPT } from '../../../common/wire'
import { openDatabase, type Database } from '../../../engine/sqlite'
import { CHECKPOINT_THREAD_AFTER_ROWS, DB_FILE, SCHEMA_VERSION, SUBMIT_CHUNK, TaskStore } from '../../../engine/store'
import { Task } from '../../../engine/task'

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

function setup(): { store: TaskStore; row(id: string): { state: string; data: TaskSnapshot }; dir: string; db: Database } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-store-writes-'))
  const { store } = TaskStore.open(dir)
  open.push(store)
  // Another connection: what a crash right now would leave.
  const db = openDatabase(path.join(dir, DB_FILE))
  // A task's row and its end (ends), and the claims rows: as TaskStore reads them.
  const row = (id: string) => {
    const r = db.prepare('SELECT coalesce(e.state, t.state) AS state, t.data, e.data AS end_data FROM tasks t LEFT JOIN ends e ON e.id = t.id WHERE t.id = ?').get(id)!
    let data = JSON.parse(String(r.data)) as TaskSnapshot
    if (r.end_data !== null) {
      const fixed = Object.fromEntries(Object.entries(data).filter(([k]) => ['id', 'name', 'executor', 'createdAt', 'spec', 'group', 'batchId', 'after', 'parent'].includes(k)))
      data = { ...fixed, ...JSON.parse(String(r.end_data)) } as TaskSnapshot
    }
    const claimed = db
      .prepare('SELECT tasks FROM claims')
      .all()
      .some((c) => {
        const list = JSON.parse(String(c.tasks)) as (string | number)[]
        for (let i = 0; i < list.length; i += 2) if (list[i] === id && list[i + 1] === data.attempt) return true
        return false
      })
    return { state: r.state === 'pending' && claimed ? 'running' : String(r.state), data }
  }
  return { store, row, dir, db }
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

  it('a row is JSON whatever its strings and numbers: quotes and line breaks in repeated words (workers, batches, queues), numbers JSON writes as null', () => {
    const { store, dir } = setup()
    const odd = (id: string, i: number) =>
      snapshot(id, {
        state: 'done', worker: `thread "${i % 2}"\n`, batchId: 'b\\1', queue: 'q\u2028', node: null, startedAt: -0, endedAt: 1.5e21,
        progress: 0.25, result: { n: Number.NaN, big: Number.POSITIVE_INFINITY }, error: { message: 'x"y' },
      })
    // Twice each word: the second row takes its text from the memo.
    store.save([odd('o1', 1), odd('o2', 2), odd('o3', 3)])
    store.save([snapshot('o4', { queue: 'q\u2028', node: 'n"1', worker: 'thread "1"\n' })])
    store.close()
    const { store: again, saved } = TaskStore.open(dir)
    open.push(again)
    const asJson = (t: TaskSnapshot) => JSON.parse(JSON.stringify(t)) as TaskSnapshot
    expect(saved.tasks).toEqual([asJson(odd('o1', 1)), asJson(odd('o2', 2)), asJson(odd('o3', 3)), snapshot('o4', { queue: 'q\u2028', node: 'n"1', worker: 'thread "1"\n' })])
  })

  it('a claim of many tasks marks each one running', () => {
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

  it('a claim of a task whose row is written is a line of a claims row; of one not written yet, its whole row as running', () => {
    const { store, row } = setup()
    store.save([snapshot('s1')])
    store.markStarted([snapshot('s1'), snapshot('s2')])
    expect(row('s1')).toMatchObject({ state: 'running', data: { state: 'pending' } })
    expect(row('s2')).toMatchObject({ state: 'running', data: { state: 'running' } })
  })

  it('a Task is written as its snapshot is, field by field (no snapshot made): the same row text', () => {
    const [direct, snapped] = [setup(), setup()]
    const text = (db: Database, table: string, id: string) => String(db.prepare(`SELECT data FROM ${table} WHERE id = ?`).get(id)!.data)
    const same = (table: string, t: Task) => {
      direct.store.save([t])
      snapped.store.save([t.snapshot()])
      expect(text(direct.db, table, t.id)).toBe(text(snapped.db, table, t.id))
    }
    const spec = { job: 'x.mjs#a', params: { s: 'q"\\' }, group: 'g', after: ['a0'], parent: 'p', name: 'named' }
    const plain = new Task('t1', 1, { job: 'x.mjs#a' }, 'thread', null)
    const rich = new Task('t2', 2, spec, 'thread', { id: 'b1', failFast: false })
    rich.retryOf = 'old'
    rich.queue = 'q'
    for (const t of [plain, rich]) {
      t.waiting = 'executor-limit'
      same('tasks', t)
      t.worker = 'thread 1'
      t.to('running')
      same('tasks', t)
      t.result = { r: [1, 'x'] }
      t.to('done')
      same('ends', t)
    }
    expect(text(direct.db, 'tasks', 't2')).toContain('"retryOf":"old","queue":"q","node":null')
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
    // Each a row source that reads as its latest snapshot, as a Task does.
    const tasks = Array.from({ length: n }, (_, i) => {
      const id = `t${i}`
      states.set(id, snapshot(id))
      return new Proxy(states.get(id)!, { get: (_, k) => states.get(id)![k as keyof TaskSnapshot] })
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
    const tasks = Array.from({ length: SUBMIT_CHUNK + 1 }, (_, i) => snapshot(`c${i}`))
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

  it('a claim of tasks whose rows are written is one claims row, deleted once each of its tasks is written again', () => {
    const { store, row, db } = setup()
    const claims = () => Number(db.prepare('SELECT count(*) AS n FROM claims').get()!.n)
    const tasks = ['k1', 'k2', 'k3'].map((id) => snapshot(id))
    store.save(tasks)
    store.markStarted(tasks)
    expect(claims()).toBe(1)
    // Their rows are the submit's, untouched: the claims row says running.
    expect(db.prepare("SELECT count(*) AS n FROM tasks WHERE state = 'pending'").get()!.n).toBe(3)
    store.save([snapshot('k1', { state: 'done', endedAt: 2 }), snapshot('k2', { state: 'running', startedAt: 1, worker: 'thread 1' })])
    expect(row('k3').state).toBe('running')
    store.save([snapshot('k3', { state: 'failed', endedAt: 3, error: { message: 'no' } })])
    // The last of them written: the next write deletes the claims row.
    expect(claims()).toBe(1)
    store.save([snapshot('k4')])
    expect(claims()).toBe(0)
    expect(['k1', 'k2', 'k3', 'k4'].map((id) => row(id).state)).toEqual(['done', 'running', 'failed', 'pending'])
  })

  it("a restart writes a previous run's claims into their rows and deletes them; a claim of an attempt the task has left claims nothing", () => {
    const { store, dir } = setup()
    const tasks = ['p1', 'p2', 'p3'].map((id) => snapshot(id))
    store.save(tasks)
    store.markStarted(tasks)
    // p2 went back to pending (its second attempt waits), p3 ended: p1 alone is left running.
    store.save([snapshot('p2', { attempt: 2, waiting: 'retry-backoff' }), snapshot('p3', { state: 'done', endedAt: 4, result: 3 })])
    // As a kill -9 leaves it: nothing more written.
    store.close()
    open.splice(open.indexOf(store), 1)
    const { store: again, saved } = TaskStore.open(dir)
    open.push(again)
    expect(saved.tasks.map((t) => [t.id, t.state, t.attempt])).toEqual([
      ['p1', 'running', 1],
      ['p2', 'pending', 2],
      ['p3', 'done', 1],
    ])
    const db = openDatabase(path.join(dir, DB_FILE))
    expect(db.prepare('SELECT count(*) AS n FROM claims').get()!.n).toBe(0)
    expect(db.prepare("SELECT state FROM tasks WHERE id = 'p1'").get()!.state).toBe('running')
    db.close()
  })

  it('an end writes what the run changed in a row of its own; a restart and history read the task whole', () => {
    const { store, db, dir } = setup()
    const submitted = snapshot('w', { waiting: 'executor-limit', batchId: 'b1', after: ['v'], spec: { job: 'sleep', params: { ms: 1 } } })
    store.save([submitted])
    store.markStarted([submitted])
    const done = snapshot('w', {
      state: 'done',
      batchId: 'b1',
      after: ['v'],
      spec: { job: 'sleep', params: { ms: 1 } },
      worker: 'thread 2',
      startedAt: 2,
      endedAt: 5,
      result: { ok: true },
      progress: 1,
      attempts: [{ attempt: 1, worker: 'thread 2', startedAt: 2, endedAt: 5, outcome: 'done', reason: null, error: null }],
    })
    store.save([done])
    const end = db.prepare("SELECT state, ended_at, data FROM ends WHERE id = 'w'").get()!
    expect({ state: end.state, ended_at: end.ended_at }).toEqual({ state: 'done', ended_at: 5 })
    // Neither the spec nor the rest a run never changes, nor the waiting hint the submit's row had.
    expect(Object.keys(JSON.parse(String(end.data))).sort()).toEqual(['attempt', 'attempts', 'endedAt', 'progress', 'result', 'startedAt', 'state', 'worker'])
    // Its one attempt as its own fields say: OWN_ATTEMPT, made again when read.
    expect(JSON.parse(String(end.data)).attempts).toBe(OWN_ATTEMPT)
    expect(store.history({ limit: 5 })).toEqual([done])
    store.close()
    open.splice(open.indexOf(store), 1)
    const { store: again, saved } = TaskStore.open(dir, { keepFinished: 10 })
    open.push(again)
    expect(saved.tasks).toEqual([done])
    expect(again.history({ state: 'done', limit: 5 })).toEqual([done])
    expect(again.history({ state: 'pending', limit: 5 })).toEqual([])
  })

  it('a task id written again after its end (a cluster retry takes the id over) is what its new row says, not its old end', () => {
    const { store, row, dir } = setup()
    store.save([snapshot('r')])
    store.markStarted([snapshot('r')])
    store.save([snapshot('r', { state: 'failed', startedAt: 2, endedAt: 3 })])
    expect(row('r').state).toBe('failed')
    // The new attempt, claimed at once as a node takes a job: its whole row, running.
    store.markStarted([snapshot('r', { attempt: 2, createdAt: 4 })])
    expect(row('r')).toMatchObject({ state: 'running', data: { attempt: 2 } })
    expect(store.history({ limit: 5 })).toMatchObject([{ id: 'r', state: 'running', attempt: 2 }])
    store.close()
    open.splice(open.indexOf(store), 1)
    const { store: again, saved } = TaskStore.open(dir, { keepFinished: 10 })
    open.push(again)
    expect(saved.tasks).toMatchObject([{ id: 'r', state: 'running', attempt: 2 }])
  })

  it('retention drops finished tasks whether their end is a row of its own or their row was written whole', () => {
    const { store, db } = setup()
    const day = 86_400_000
    const now = 100 * day
    store.save(['o1', 'o2', 'n1', 'n2', 'live'].map((id) => snapshot(id)))
    // Ended ten days ago and now, as ends rows; one ended long ago written whole (as before ends rows).
    store.save([
      snapshot('o1', { state: 'done', endedAt: now - 10 * day }),
      snapshot('o2', { state: 'failed', endedAt: now - 10 * day + 1, error: { message: 'x' } }),
      snapshot('n1', { state: 'done', endedAt: now - 1 }),
      snapshot('n2', { state: 'done', endedAt: now }),
      snapshot('whole', { state: 'cancelled', endedAt: now - 20 * day }),
    ])
    expect(store.prune({ keepDays: 5 }, now).sort()).toEqual(['o1', 'o2', 'whole'])
    expect(store.prune({ keepFinished: 1 }, now)).toEqual(['n1'])
    expect(db.prepare('SELECT id FROM tasks ORDER BY id').all().map((r) => r.id)).toEqual(['live', 'n2'])
    expect(db.prepare('SELECT id FROM ends').all().map((r) => r.id)).toEqual(['n2'])
  })

  it('a store of the schema before ends and claims rows opens: its claimed and finished rows read as they did', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-store-writes-'))
    const old = openDatabase(path.join(dir, DB_FILE))
    old.exec(`PRAGMA journal_mode = WAL;
      CREATE TABLE tasks (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, state TEXT NOT NULL, ended_at INTEGER, data TEXT NOT NULL);
      CREATE TABLE batches (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE children (pid INTEGER PRIMARY KEY, grp INTEGER NOT NULL, start_time TEXT);
      CREATE TABLE broken_tasks (id TEXT PRIMARY KEY, data, error TEXT NOT NULL, set_aside_at INTEGER NOT NULL);
      CREATE INDEX tasks_ended ON tasks (ended_at) WHERE ended_at IS NOT NULL;
      PRAGMA user_version = 3;`)
    const insert = old.prepare('INSERT INTO tasks (id, created_at, state, ended_at, data) VALUES (?, ?, ?, ?, ?)')
    const claimed = snapshot('c1')
    const finished = snapshot('f1', { state: 'done', endedAt: 4, result: 2 })
    const waiting = snapshot('q1')
    // A claim as that schema wrote it: the state column alone.
    insert.run('c1', 1, 'running', null, JSON.stringify(claimed))
    insert.run('f1', 1, 'done', 4, JSON.stringify(finished))
    insert.run('q1', 1, 'pending', null, JSON.stringify(waiting))
    old.close()
    const { store, saved } = TaskStore.open(dir)
    open.push(store)
    expect(saved.tasks).toEqual([{ ...claimed, state: 'running' }, finished, waiting])
    // Written on from here as this schema does.
    store.markStarted([waiting])
    store.save([snapshot('q1', { state: 'done', endedAt: 6, result: 9 })])
    expect(store.history({ limit: 5 }).map((t) => [t.id, t.state, t.result])).toEqual([
      ['q1', 'done', 9],
      ['f1', 'done', 2],
      ['c1', 'running', null],
    ])
    const db = openDatabase(path.join(dir, DB_FILE))
    expect(Number(db.prepare('PRAGMA user_version').get()!.user_version)).toBe(SCHEMA_VERSION)
    db.close()
  })
})
