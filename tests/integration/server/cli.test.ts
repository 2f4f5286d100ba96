// The real `taskloop` CLI as a child process: exit codes, the live lines, Ctrl+C with no orphan left.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyCounters } from '../../../common/types'
import type { BatchSnapshot, EventBatch, Snapshot, TaskSnapshot } from '../../../common/types'
import { ttyView } from '../../../cli/run-view'
import { quietly } from '../../../scripts/lib.mjs'
import { openDatabase } from '../../../engine/sqlite'
import { START_MS, useCli, type Cli } from '../../helpers/cli'
import { connectEvents, waitFor } from './helpers'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

const cli = useCli()

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function specFile(name: string, value: unknown): Promise<string> {
  const file = path.join(dir, name)
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value))
  return file
}

interface ProcInfo {
  ppid: number
  /** Start time since boot: tells a live process from a later one that reused its pid. */
  start: string
  comm: string
}

/** Every live (non-zombie) process. */
async function processTable(): Promise<Map<number, ProcInfo>> {
  const table = new Map<number, ProcInfo>()
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      // Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
      // utime stime cutime cstime priority nice threads itrealvalue starttime ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] === 'Z' || fields[0] === 'X') continue
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      table.set(Number(entry), { ppid: Number(fields[1]), start: fields[19]!, comm })
    } catch {
      // exited while we looked
    }
  }
  return table
}

async function descendants(pid: number): Promise<Map<number, ProcInfo>> {
  const table = await processTable()
  const found = new Map<number, ProcInfo>()
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.pop()!
    for (const [child, info] of table) {
      if (info.ppid === parent && !found.has(child)) {
        found.set(child, info)
        queue.push(child)
      }
    }
  }
  return found
}

async function stillAlive(procs: Map<number, ProcInfo>): Promise<number[]> {
  const table = await processTable()
  return [...procs].filter(([pid, info]) => table.get(pid)?.start === info.start).map(([pid]) => pid)
}

const named = (procs: Map<number, ProcInfo>, comm: string): number => [...procs.values()].filter((p) => p.comm === comm).length

describe('taskloop run', () => {
  it('runs a small spec file and exits 0, one line per state change', async () => {
    const file = await specFile('ok.json', [
      { name: 'short nap', job: 'sleep', params: { ms: 50 } },
      { name: 'ticks', job: 'ticker', params: { steps: 2, intervalMs: 20 } },
      { name: 'echo', argv: ['echo', 'hi'] },
    ])
    const run = cli(['run', file])
    expect(await run.exited).toBe(0)
    const out = run.stdout()
    expect(out).toMatch(/^\[\s*\d+\.\d{2}s\] done\s+short nap/m)
    expect(out).toMatch(/done\s+ticks/)
    expect(out).toMatch(/done\s+echo/)
    expect(out).toContain('3 done, 0 failed, 0 cancelled')
  })

  it('exits 1 when a job fails, naming it, its reason and its last output', async () => {
    const file = await specFile('fail.json', {
      batch: {
        tasks: [
          { name: 'boom', job: 'fail', params: { message: 'broken on purpose' } },
          { name: 'compile', argv: ['sh', '-c', 'echo "error: missing semicolon" >&2; exit 3'] },
          { job: 'sleep', params: { ms: 10 } },
        ],
      },
    })
    const run = cli(['run', file])
    expect(await run.exited).toBe(1)
    expect(run.stdout()).toMatch(/failed\s+boom \(error: broken on purpose\)/)
    // The report ends with each failure and the last lines it printed.
    expect(run.stdout()).toMatch(/failed: compile \(exit-code\): .*3\n {2}\| error: missing semicolon\n/)
    expect(run.stdout()).toContain('1 done, 2 failed, 0 cancelled')
  })

  it("shows a failing command's last output lines and the folder holding the full logs", async () => {
    const dataDir = path.join(dir, 'failing-run')
    const file = await specFile('noisy.json', { name: 'noisy', argv: ['sh', '-c', 'for i in $(seq 1 20); do echo "line $i"; done; exit 4'] })
    const run = cli(['run', file, '--data-dir', dataDir])
    expect(await run.exited).toBe(1)
    const out = run.stdout()
    expect(out).toMatch(/failed: noisy \(exit-code\)/)
    expect(out).toContain('  | line 20\n')
    expect(out).not.toContain('  | line 1\n')
    expect(out).toContain(`full logs: ${path.join(dataDir, 'logs')}\n`)
    const [log] = await readdir(path.join(dataDir, 'logs'))
    expect(await readFile(path.join(dataDir, 'logs', log!), 'utf8')).toContain('line 1\n')
  })

  it('after Ctrl+C, marks the tasks that were forced and those that ignored the cancel', async () => {
    const file = await specFile('unwilling.json', [
      { name: 'stubborn', argv: ['sh', '-c', 'trap "" TERM; sleep 30; sleep 30'] },
      { name: 'deaf loop job', job: 'sleep', params: { ms: 30_000, ignoreCancel: true } },
      { name: 'polite', job: 'sleep', params: { ms: 30_000 } },
    ])
    const run = cli(['run', file, '--grace-ms', '500'])
    await waitFor('the tasks running', () => /running\s+stubborn/.test(run.stdout()) && /running\s+deaf loop job/.test(run.stdout()), START_MS)
    await new Promise((r) => setTimeout(r, 200)) // the trap is installed
    run.child.kill('SIGINT')
    expect(await run.exited).toBe(130)
    const out = run.stdout()
    expect(out).toMatch(/^forced: stubborn \(command, pid \d+\)/m)
    expect(out).toMatch(/^ignored cancel: deaf loop job \(loop\)/m)
    expect(out).not.toMatch(/^(forced|ignored cancel): polite/m)
  })

  it('prints a JSON report with --json, batches gathered', async () => {
    const file = await specFile('json.json', [
      { name: 'nap', job: 'sleep', params: { ms: 10 } },
      { batch: { name: 'primes', tasks: [{ job: 'primes', params: { below: 10 } }] } },
    ])
    const run = cli(['run', file, '--json'])
    expect(await run.exited).toBe(0)
    const report = JSON.parse(run.stdout()) as { ok: boolean; tasks: TaskSnapshot[]; batches: BatchSnapshot[] }
    expect(report.ok).toBe(true)
    expect(report.tasks).toMatchObject([{ name: 'nap', state: 'done' }, { state: 'done' }])
    expect(report.batches).toMatchObject([{ name: 'primes', state: 'done', results: [expect.anything()] }])
  })

  it('runs a job that submits children with ctx.submit and waits for them with ctx.wait, on a process, no token', async () => {
    const mod = path.join(dir, 'fan.mjs')
    await writeFile(
      mod,
      `export async function fan(p, ctx) {
  const { ids } = await ctx.submit({ batch: { tasks: [{ job: 'sleep', params: { ms: 50 } }, { job: 'sleep', executor: 'thread', params: { ms: 50 } }] } })
  const { done, pending } = await ctx.wait(ids, { returnWhen: 'all' })
  return { ids, done: done.map((t) => t.state), pending: pending.length }
}`,
    )
    const file = await specFile('fan.json', { name: 'fan', job: `${mod}#fan`, executor: 'process' })
    const run = cli(['run', file, '--json'])
    expect(await run.exited).toBe(0)
    const report = JSON.parse(run.stdout()) as { ok: boolean; tasks: TaskSnapshot[] }
    expect(report.ok).toBe(true)
    const fan = report.tasks.find((t) => t.name === 'fan')!
    expect(fan.state).toBe('done')
    expect(fan.result).toMatchObject({ done: ['done', 'done'], pending: 0 })
  })

  it('prints each task as one JSON line on stdout as it finishes with --jsonl (as_completed)', async () => {
    const file = await specFile('jsonl.json', {
      batch: { tasks: [900, 10, 400].map((ms) => ({ name: `nap ${ms}`, job: 'sleep', params: { ms } })) },
    })
    const run = cli(['run', file, '--jsonl'])
    expect(await run.exited).toBe(0)
    const lines = run.stdout().trim().split('\n')
    const tasks = lines.map((l) => JSON.parse(l) as TaskSnapshot)
    expect(tasks.map((t) => [t.name, t.state])).toEqual([
      ['nap 10', 'done'],
      ['nap 400', 'done'],
      ['nap 900', 'done'],
    ])
  })

  it('exits 2 on a spec that does not validate, naming the field; and on a missing or malformed file', async () => {
    const [bad, batch, missing, malformed, unknownAfter] = [
      cli(['run', await specFile('bad.json', [{ job: 'sleep' }, { job: 'sleep', params: 3 }])]),
      cli(['run', await specFile('bad-batch.json', { batch: { tasks: [{ job: 'sleep', executor: 'gpu' }] } })]),
      cli(['run', path.join(dir, 'nope.json')]),
      cli(['run', await specFile('malformed.json', '{"job": ')]),
      // Valid in shape; the engine refuses it (no such task to wait for).
      cli(['run', await specFile('after.json', [{ job: 'sleep', params: { ms: 1 } }, { job: 'sleep', after: ['nope'] }])]),
    ]
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toContain('1.params')
    expect(await batch.exited).toBe(2)
    expect(batch.stderr()).toContain('batch.tasks.0.executor')
    expect(await missing.exited).toBe(2)
    expect(missing.stderr()).toContain('no such file')
    expect(await malformed.exited).toBe(2)
    expect(malformed.stderr()).toContain('not valid JSON')
    expect(await unknownAfter.exited).toBe(2)
    expect(unknownAfter.stderr()).toContain('1.after.0: unknown task id "nope"')
  })

  it('on Ctrl+C shuts down gracefully, exits 130 and leaves no process behind', async () => {
    const file = await specFile('sleepy.json', [
      // sh is the task's process; the two sleeps are the CLI's grandchildren.
      { name: 'sleeper', argv: ['sh', '-c', 'sleep 30 & sleep 30; wait'] },
      { name: 'pool sleeper', job: 'sleep', executor: 'process', params: { ms: 30_000 } },
    ])
    const run = cli(['run', file, '--shutdown-grace-ms', '3000'])
    await waitFor('both tasks running', () => /running\s+sleeper \(pid \d+\)/.test(run.stdout()) && /running\s+pool sleeper/.test(run.stdout()), START_MS)
    const procs = await waitFor('the sleeps to start', async () => {
      const found = await descendants(run.child.pid!)
      // sh, its two sleeps (the grandchildren), and the process pool's child
      return named(found, 'sleep') === 2 && named(found, 'sh') === 1 && found.size >= 4 && found
    })
    const started = Date.now()
    run.child.kill('SIGINT')
    expect(await run.exited).toBe(130)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(run.stderr()).toContain('Shutting down: 2 running, 0 pending cancelled')
    expect(run.stdout()).toMatch(/cancelled\s+sleeper \(shutdown\)/)
    await waitFor('every descendant to be gone', async () => (await stillAlive(procs)).length === 0, 5000)
  })

  it('a second Ctrl+C forces a task that ignores SIGTERM, well before the grace ends', async () => {
    const file = await specFile('stubborn.json', { name: 'stubborn', argv: ['sh', '-c', 'trap "" TERM; sleep 30; sleep 30'] })
    const run = cli(['run', file, '--shutdown-grace-ms', '60000'])
    await waitFor('the task running', () => /running\s+stubborn/.test(run.stdout()), START_MS)
    const procs = await waitFor('the sleep to start', async () => {
      const found = await descendants(run.child.pid!)
      return named(found, 'sleep') === 1 && found
    })
    run.child.kill('SIGINT')
    await waitFor('the shutdown notice', () => run.stderr().includes('Shutting down'))
    await new Promise((r) => setTimeout(r, 300))
    expect(run.child.exitCode).toBeNull()
    const started = Date.now()
    run.child.kill('SIGINT')
    expect(await run.exited).toBe(130)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(run.stdout()).toMatch(/^forced: stubborn/m)
    await waitFor('every descendant to be gone', async () => (await stillAlive(procs)).length === 0, 5000)
  })
})

describe("taskloop run's terminal view", () => {
  it('fits every line to the terminal width, narrow or wide', () => {
    const now = Date.now()
    const tasks = new Map<string, TaskSnapshot>()
    for (const [i, state] of (['running', 'pending', 'done', 'failed'] as const).entries()) {
      const t = { id: `t${i}`, name: `a rather long task name number ${i} `.repeat(3), executor: 'process', state, progress: 0.5, startedAt: now - 1234, endedAt: null }
      tasks.set(t.id, t as unknown as TaskSnapshot)
    }
    for (const columns of [24, 40, 55, 80, 140]) {
      let written = ''
      const out = { columns, rows: 30, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream
      const view = ttyView(out, out, now)
      view.update(tasks, { ...emptyCounters(), running: 1, pending: 1, done: 1, failed: 1 })
      view.finish()
      // eslint-disable-next-line no-control-regex
      const lines = written.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n').filter((l) => l !== '')
      expect(lines.length, `${columns} columns`).toBe(6) // header, 4 tasks, counters
      for (const line of lines) expect(line.length, `${columns} columns: "${line}"`).toBeLessThan(columns)
      expect(lines[1], `${columns} columns`).toContain('running')
    }
  })
})

describe('taskloop serve', () => {
  it('prints exactly one URL line, answers /api/stats with the token, and exits 0 on SIGTERM', async () => {
    const serve = cli(['serve', '--port', '0', '--shutdown-grace-ms', '1000'])
    const line = await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(serve.stdout()), START_MS)
    const url = new URL(line[1]!)
    expect(url.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const token = url.searchParams.get('token')!
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    const stats = await fetch(`${url.origin}/api/stats`, { headers: { authorization: `Bearer ${token}` } })
    expect(stats.status).toBe(200)
    expect(await stats.json()).toMatchObject({ counters: { running: 0 }, shuttingDown: false })
    expect((await fetch(`${url.origin}/api/stats`)).status).toBe(401)

    // The events socket in front of the engine thread (the production path): snapshot, batches, logs.
    const events = await connectEvents(`ws://${url.host}/api/events?token=${token}`)
    try {
      await events.next((m): m is Snapshot => m.type === 'snapshot')
      const submitted = await fetch(`${url.origin}/api/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'served ticks', job: 'ticker', params: { steps: 3, intervalMs: 50 } }),
      })
      expect(submitted.status).toBe(201)
      const [id] = ((await submitted.json()) as { ids: string[] }).ids
      events.send({ type: 'watch-log', id })
      await events.next((m): m is EventBatch => m.type === 'batch' && m.tasks.some((t) => t.id === id && t.state === 'done'))
      await waitFor('the log lines', () => events.messages.some((m) => m.type === 'log' && m.lines.some((l) => l.line === 'tick 3')))
      const seqs = events.messages.filter((m): m is EventBatch => m.type === 'batch').map((b) => b.seq)
      seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1]! + 1))
    } finally {
      await events.close()
    }

    serve.child.kill('SIGTERM')
    expect(await serve.exited).toBe(0)
    expect(serve.stdout().trim().split('\n')).toHaveLength(1)
  })

  it('on Ctrl+C cancels what runs, exits 130 and leaves no process behind', async () => {
    const serve = cli(['serve', '--port', '0', '--shutdown-grace-ms', '3000'])
    const line = await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(serve.stdout()), START_MS)
    const url = new URL(line[1]!)
    const auth = { authorization: `Bearer ${url.searchParams.get('token')}`, 'content-type': 'application/json' }
    const res = await fetch(`${url.origin}/api/tasks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'served sleeper', argv: ['sh', '-c', 'sleep 30 & sleep 30; wait'] }),
    })
    expect(res.status).toBe(201)
    const procs = await waitFor('the sleeps to start', async () => {
      const found = await descendants(serve.child.pid!)
      return named(found, 'sleep') === 2 && found
    })
    serve.child.kill('SIGINT')
    expect(await serve.exited).toBe(130)
    expect(serve.stderr()).toContain('Shutting down: 1 running, 0 pending cancelled')
    await waitFor('every descendant to be gone', async () => (await stillAlive(procs)).length === 0, 5000)
  })

  it('shuts down on the UI quit request', async () => {
    const serve = cli(['serve', '--port', '0', '--token', 'a-fixed-test-token-123'])
    const line = await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(serve.stdout()), START_MS)
    const url = new URL(line[1]!)
    expect(url.searchParams.get('token')).toBe('a-fixed-test-token-123')
    const res = await fetch(`${url.origin}/api/quit`, {
      method: 'POST',
      headers: { authorization: 'Bearer a-fixed-test-token-123', 'content-type': 'application/json' },
    })
    expect(res.status).toBe(202)
    expect(await serve.exited).toBe(0)
  })
})

describe('the shutdown grace flag', () => {
  const NOTICE = /--grace-ms is now --shutdown-grace-ms/g

  it('--shutdown-grace-ms sets the grace clients see; the old --grace-ms still works, with one notice line', async () => {
    for (const [flag, ms] of [['--shutdown-grace-ms', 1234], ['--grace-ms', 2345]] as const) {
      const serve = cli(['serve', '--port', '0', flag, String(ms)])
      const line = await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(serve.stdout()), START_MS)
      const url = new URL(line[1]!)
      const events = await connectEvents(`ws://${url.host}/api/events?token=${url.searchParams.get('token')}`)
      try {
        await events.next((m): m is Snapshot => m.type === 'snapshot')
        serve.child.kill('SIGTERM')
        const batch = await events.next((m): m is EventBatch => m.type === 'batch' && !!m.shutdown)
        expect(batch.shutdown!.deadline - batch.shutdown!.startedAt).toBe(ms)
      } finally {
        await events.close()
      }
      expect(await serve.exited).toBe(0)
      expect(serve.stderr().match(NOTICE)?.length ?? 0).toBe(flag === '--grace-ms' ? 1 : 0)
    }

    const file = await specFile('grace.json', { job: 'sleep', params: { ms: 10 } })
    const [oldName, newName] = [cli(['run', file, '--grace-ms', '3000']), cli(['run', file, '--shutdown-grace-ms', '3000'])]
    expect(await oldName.exited).toBe(0)
    expect(oldName.stderr().match(NOTICE)).toHaveLength(1)
    expect(await newName.exited).toBe(0)
    expect(newName.stderr()).not.toMatch(NOTICE)
  })

  it('refuses both names at once, and a grace that is not a whole number of ms (exit 2)', async () => {
    const [both, bad] = [cli(['serve', '--shutdown-grace-ms', '10', '--grace-ms', '10']), cli(['run', 'x.json', '--shutdown-grace-ms', '1.5'])]
    expect(await both.exited).toBe(2)
    expect(both.stderr()).toContain('give --shutdown-grace-ms only')
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toContain('--shutdown-grace-ms expects an integer from 0 to 600000, got "1.5"')
  })
})

describe('no store, no start', () => {
  const oneLine = (c: Cli) => c.stderr().trimEnd().split('\n')

  it('a folder held by a live taskloop serve: serve and run exit 10 naming the folder and its URL', async () => {
    const data = await mkdtemp(path.join(dir, 'held-'))
    const first = cli(['serve', '--port', '0', '--token', 'the-first-servers-token', '--data-dir', data])
    const line = await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(first.stdout()), START_MS)
    const second = cli(['serve', '--port', '0', '--data-dir', data])
    expect(await second.exited).toBe(10)
    expect(oneLine(second)).toEqual([
      `taskloop serve: the data folder ${data} is in use by another Taskloop (taskloop serve, pid ${first.child.pid}) serving ${line[1]}`,
    ])
    expect(second.stdout()).toBe('')
    const run = cli(['run', await specFile('held.json', { job: 'sleep', params: { ms: 1 } }), '--data-dir', data])
    expect(await run.exited).toBe(10)
    expect(oneLine(run)).toEqual([expect.stringMatching(/^taskloop run: the data folder .* is in use by another Taskloop \(taskloop serve, pid \d+\) serving http/)])
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
  })

  it('a corrupt store: exit 12 and the file kept; --reset-store moves it aside, says so and serves', async () => {
    const data = await mkdtemp(path.join(dir, 'corrupt-'))
    const garbage = 'not a database at all; '.repeat(300)
    await writeFile(path.join(data, 'taskloop.db'), garbage)
    const refused = cli(['serve', '--port', '0', '--data-dir', data])
    expect(await refused.exited).toBe(12)
    expect(oneLine(refused)).toEqual([
      `taskloop serve: the task store ${data}/taskloop.db is corrupt (file is not a database); --reset-store moves it aside and starts a new one`,
    ])
    expect(await readFile(path.join(data, 'taskloop.db'), 'utf8')).toBe(garbage)

    const reset = cli(['serve', '--port', '0', '--data-dir', data, '--reset-store'])
    await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(reset.stdout()), START_MS)
    const aside = (await readdir(data)).filter((f) => f.startsWith('taskloop.db.broken-'))
    expect(aside).toHaveLength(1)
    expect(await readFile(path.join(data, aside[0]!), 'utf8')).toBe(garbage)
    expect(reset.stderr()).toContain(`it was moved aside as ${path.join(data, aside[0]!)} and a new one started.`)
    reset.child.kill('SIGTERM')
    expect(await reset.exited).toBe(0)
  })

  it('a store from a newer Taskloop: run exits 13; --reset-store runs on a new store', async () => {
    const data = await mkdtemp(path.join(dir, 'newer-'))
    const file = await specFile('newer.json', { job: 'sleep', params: { ms: 1 } })
    expect(await cli(['run', file, '--data-dir', data]).exited).toBe(0)
    const db = openDatabase(path.join(data, 'taskloop.db'))
    db.exec('PRAGMA user_version = 7; PRAGMA wal_checkpoint(TRUNCATE);')
    db.close()
    const refused = cli(['run', file, '--data-dir', data])
    expect(await refused.exited).toBe(13)
    expect(oneLine(refused)).toEqual([expect.stringMatching(/^taskloop run: the task store .*taskloop\.db was written by a newer Taskloop \(schema version 7;/)])
    const reset = cli(['run', file, '--data-dir', data, '--reset-store'])
    expect(await reset.exited).toBe(0)
    expect(reset.stderr()).toMatch(/^Notice: The task store .*taskloop\.db was written by a newer Taskloop: it was moved aside as .*taskloop\.db\.broken-/)
  })

  it('a data folder that cannot be used: exit 11 naming it; --no-store is the only way to run without one', async () => {
    const notAFolder = await specFile('not-a-folder', 'a file')
    const file = await specFile('nofolder.json', { job: 'sleep', params: { ms: 1 } })
    const refused = cli(['run', file, '--data-dir', notAFolder])
    expect(await refused.exited).toBe(11)
    expect(oneLine(refused)).toEqual([expect.stringMatching(new RegExp(`^taskloop run: cannot use the data folder ${notAFolder}: `))])
    expect(await cli(['run', file, '--no-store']).exited).toBe(0)
    const both = cli(['run', file, '--no-store', '--reset-store'])
    expect(await both.exited).toBe(2)
    expect(both.stderr()).toContain('--reset-store and --no-store contradict each other')
  })

  it('the default data folders are owner-only: 0700 folders, 0600 files', async () => {
    const file = await specFile('private.json', { name: 'secret', command: 'echo secret', env: { TOKEN: 'secret' } })
    expect(await cli(['run', file]).exited).toBe(0)
    const home = path.join(process.env.XDG_DATA_HOME!, 'taskloop')
    const mode = async (p: string) => ((await stat(p)).mode & 0o777).toString(8)
    expect([await mode(home), await mode(path.join(home, 'runs'))]).toEqual(['700', '700'])
    const runs = await readdir(path.join(home, 'runs'))
    const newest = path.join(home, 'runs', runs.sort().at(-1)!)
    expect(await mode(newest)).toBe('700')
    for (const f of await readdir(newest)) expect([f, await mode(path.join(newest, f))]).toEqual([f, f === 'logs' ? '700' : '600'])
    for (const f of await readdir(path.join(newest, 'logs'))) expect([f, await mode(path.join(newest, 'logs', f))]).toEqual([f, '600'])
  })
})

describe('taskloop usage', () => {
  it('prints usage for --help (exit 0); a usage error is one line pointing at --help (exit 2)', async () => {
    const [help, unknown, option] = [cli(['--help'], { entry: ['bin/taskloop.mjs'] }), cli(['frobnicate']), cli(['serve', '--bogus'])]
    expect(await help.exited).toBe(0)
    expect(help.stdout()).toMatch(/^Usage:\n\s+taskloop serve/)
    expect(await unknown.exited).toBe(2)
    expect(unknown.stderr()).toBe('taskloop: unknown command "frobnicate" (see taskloop --help)\n')
    expect(await option.exited).toBe(2)
    expect(option.stderr()).toMatch(/^taskloop: .*--bogus.* \(see taskloop --help\)\n$/)
  })

  it('prints its version with --version', async () => {
    const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }
    const run = cli(['--version'])
    expect(await run.exited).toBe(0)
    expect(run.stdout()).toBe(`taskloop ${version}\n`)
  })
})

describe('npm start', () => {
  it("installs quietly: a command's output shows only when it fails", async () => {
    const written: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write
    const log = console.error
    console.error = (...args: unknown[]) => written.push(args.join(' '))
    try {
      expect(quietly('echo npm warn EBADENGINE; echo more noise >&2')).toBe(true)
      expect(written).toEqual([])
      expect(quietly('echo npm error ERESOLVE; exit 1')).toBe(false)
    } finally {
      process.stderr.write = write
      console.error = log
    }
    expect(written.join('')).toContain('npm error ERESOLVE')
    expect(written.join('')).toContain('failed (exit 1)')
  })
})
