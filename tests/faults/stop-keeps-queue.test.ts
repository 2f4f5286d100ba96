// What each stop of a real `taskloop serve` does with the queue (README "Stopping"): real signals,
// the real HTTP Quit, the same SQLite data folder started again. SIGTERM (a service manager) keeps
// pending tasks for the next start; Ctrl+C and Quit cancel them unless told to keep them.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { api, serve, type ServeProcess } from './serve-process'
import { CLI_ENTRY } from '../helpers/cli'

const started: ServeProcess[] = []
afterEach(() => {
  for (const s of started.splice(0)) if (s.child.exitCode === null) s.child.kill('SIGKILL')
})

async function start(dataDir: string, args: string[] = []): Promise<ServeProcess> {
  const s = await serve(dataDir, ['--grace-ms', '2000', ...args])
  started.push(s)
  return s
}

const tasks = async (s: ServeProcess): Promise<Map<string, TaskSnapshot>> =>
  new Map((await api<{ tasks: TaskSnapshot[] }>(s.url, 'GET', '/api/tasks')).tasks.map((t) => [t.id, t]))

interface Work {
  dataDir: string
  /** A loop job that fails as interrupted when a keeping stop stops it. */
  interrupted: string
  /** Its spec says onInterrupt: requeue. */
  requeued: string
  pending: string[]
}

/** Two tasks running (loop limit 2), `count` pending behind them; then `stop` stops the server. */
async function stopWithWork(count: number, stop: (s: ServeProcess) => Promise<void>, args: string[] = []): Promise<Work> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-stop-'))
  const s = await start(dataDir, args)
  await api(s.url, 'POST', '/api/limits', { limits: { loop: 2 } })
  const submit = async (spec: unknown) => (await api<{ ids: string[] }>(s.url, 'POST', '/api/tasks', spec)).ids
  const [interrupted] = await submit({ name: 'long', job: 'sleep', params: { ms: 120_000 } })
  const [requeued] = await submit({ name: 'long, requeue', job: 'sleep', params: { ms: 120_000 }, onInterrupt: 'requeue' })
  const pending = await submit({ batch: { tasks: Array.from({ length: count }, (_, i) => ({ name: `queued ${i}`, job: 'sleep', params: { ms: 1 } })) } })
  await waitFor('the two long ones to run', async () => {
    const all = await tasks(s)
    return all.get(interrupted!)?.state === 'running' && all.get(requeued!)?.state === 'running'
  })
  await stop(s)
  await s.exited
  return { dataDir, interrupted: interrupted!, requeued: requeued!, pending }
}

const signal = (name: NodeJS.Signals) => async (s: ServeProcess) => void s.child.kill(name)
const quit = (body?: unknown) => async (s: ServeProcess) => void (await api(s.url, 'POST', '/api/quit', body))

/** The next start on the same folder: kept tasks run; running ones were stopped as a crash would have. */
async function expectKept(w: Work): Promise<void> {
  const next = await start(w.dataDir)
  const at = await tasks(next)
  expect(at.get(w.interrupted)).toMatchObject({ state: 'failed', reason: 'interrupted', error: { message: 'Taskloop stopped while this task was running' } })
  expect(at.get(w.requeued)).toMatchObject({ attempt: 2 })
  expect(['pending', 'running']).toContain(at.get(w.requeued)!.state)
  await waitFor(`the ${w.pending.length} kept tasks to run`, async () => {
    const now = await tasks(next)
    return w.pending.every((id) => now.get(id)?.state === 'done')
  }, 60_000)
  expect((await tasks(next)).get(w.requeued)!.attempts[0]).toMatchObject({ attempt: 1, outcome: 'pending' })
  next.child.kill('SIGTERM')
  await next.exited
}

async function expectCancelled(w: Work): Promise<void> {
  const next = await start(w.dataDir)
  const at = await tasks(next)
  for (const id of [...w.pending, w.interrupted, w.requeued]) expect(at.get(id)).toMatchObject({ state: 'cancelled', reason: 'shutdown' })
  next.child.kill('SIGTERM')
  await next.exited
}

describe('a stop of taskloop serve and the queue', () => {
  it('SIGTERM keeps 500 pending tasks for the next start, which runs them', async () => {
    let said = ''
    const w = await stopWithWork(500, async (s) => {
      s.child.kill('SIGTERM')
      expect(await s.exited).toBe(0)
      said = s.output()
    })
    expect(said).toContain('Shutting down: 2 running, 500 pending kept for the next start')
    await expectKept(w)
  }, 120_000)

  it('Ctrl+C (SIGINT) cancels pending and running tasks', async () => {
    await expectCancelled(await stopWithWork(20, signal('SIGINT')))
  }, 60_000)

  it('--on-stop keep overrides Ctrl+C; --on-stop cancel overrides SIGTERM', async () => {
    await expectKept(await stopWithWork(20, signal('SIGINT'), ['--on-stop', 'keep']))
    await expectCancelled(await stopWithWork(20, signal('SIGTERM'), ['--on-stop', 'cancel']))
  }, 120_000)

  it('the Quit API cancels by default and keeps with {"pending": "keep"}; a bad choice is refused', async () => {
    await expectCancelled(await stopWithWork(20, quit()))
    await expectKept(await stopWithWork(20, quit({ pending: 'keep' })))
    const s = await start(mkdtempSync(path.join(os.tmpdir(), 'taskloop-stop-')))
    await expect(api(s.url, 'POST', '/api/quit', { pending: 'later' })).rejects.toThrow(/400 .*pending/)
    expect((await api<{ shuttingDown: boolean }>(s.url, 'GET', '/api/stats')).shuttingDown).toBe(false)
    s.child.kill('SIGTERM')
    await s.exited
  }, 120_000)

  it('taskloop run cancels on SIGTERM by default; with --on-stop keep its folder keeps the queue for a serve', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-stop-run-'))
    const file = path.join(dir, 'work.json')
    // Concurrency 1: the ten quick ones wait behind the long one.
    const specs = [{ name: 'long', job: 'sleep', params: { ms: 120_000 } }, ...Array.from({ length: 10 }, (_, i) => ({ name: `queued ${i}`, job: 'sleep', params: { ms: 1 } }))]
    writeFileSync(file, JSON.stringify({ batch: { concurrency: 1, tasks: specs } }))
    const runUntilSigterm = async (args: string[]): Promise<{ code: number | null; out: string }> => {
      const child = spawn(process.execPath, [...CLI_ENTRY, 'run', file, '--grace-ms', '1000', ...args], {
        cwd: path.resolve(import.meta.dirname, '../..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d))
      child.stderr.on('data', (d: Buffer) => (out += d))
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      try {
        await waitFor('the long task to run', async () => /running\s+long/.test(out), 30_000)
        child.kill('SIGTERM')
        return { code: await exited, out }
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL')
      }
    }

    const cancelled = await runUntilSigterm(['--data-dir', path.join(dir, 'cancelled')])
    expect(cancelled.code).toBe(143)
    expect(cancelled.out).toContain('Shutting down: 1 running, 10 pending cancelled')
    expect(cancelled.out).toMatch(/0 done, 0 failed, 11 cancelled/)

    const keptDir = path.join(dir, 'kept')
    const kept = await runUntilSigterm(['--data-dir', keptDir, '--on-stop', 'keep'])
    expect(kept.code).toBe(143)
    expect(kept.out).toContain(`10 pending tasks kept in ${keptDir}`)
    const s = await start(keptDir)
    await waitFor('the kept tasks to run', async () => {
      const all = [...(await tasks(s)).values()]
      return all.filter((t) => t.state === 'done').length === 10 && all.find((t) => t.name === 'long')?.reason === 'interrupted'
    }, 30_000)
  }, 120_000)
})
