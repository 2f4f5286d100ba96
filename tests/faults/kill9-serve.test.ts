// kill -9 of `taskloop serve` while tasks run: on restart every acknowledged task is there once,
// in a state that says what happened, and the process groups it left behind are ended.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Stats, TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { aliveInGroup, pidOf, processes } from '../helpers/proc'
import { CLI_ENTRY } from '../helpers/cli'

const root = path.resolve(import.meta.dirname, '../..')
const started: ChildProcess[] = []
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

const serveArgs = (dataDir: string) => [...CLI_ENTRY, 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir]

async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, serveArgs(dataDir), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  started.push(child)
  return { child, ...(await urlOf(child)) }
}

async function urlOf(child: ChildProcess): Promise<{ url: string; output: () => string }> {
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30_000)
  return { url, output: () => out }
}

/**
 * `taskloop serve` under a parent that does not reap it (a shell blocked in `read`, like a desktop
 * parent that never waits, or a pid 1 that does not reap): killed, it stays a zombie until the
 * parent is told to go on (a line on its stdin), then it is reaped.
 */
async function serveUnreaped(dataDir: string): Promise<{ pid: number; url: string; reap: () => Promise<void> }> {
  const parent = spawn('sh', ['-c', '"$0" "$@" & echo "serve pid $!"; read _; wait', process.execPath, ...serveArgs(dataDir)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  started.push(parent)
  const { url, output } = await urlOf(parent)
  const pid = Number(/serve pid (\d+)/.exec(output())![1])
  const reap = async () => {
    parent.stdin!.end('\n')
    await new Promise((r) => (parent.exitCode !== null ? r(null) : parent.once('exit', r)))
  }
  return { pid, url, reap }
}

const stateOf = (pid: number) => processes().find((p) => p.pid === pid)?.state

const api = async <T>(url: string, method: string, p: string, body?: unknown): Promise<T> => {
  const res = await fetch(url + p, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
  return (await res.json().catch(() => null)) as T
}

describe('kill -9 of taskloop serve', () => {
  it('restarts with every task once, running ones interrupted, pending ones run, orphans ended', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-kill9-'))
    const first = await serve(dataDir)
    const submit = async (spec: unknown) => (await api<{ ids: string[] }>(first.url, 'POST', '/api/tasks', spec)).ids
    const [done] = await submit({ name: 'quick', job: 'sleep', params: { ms: 1 } })
    await waitFor('quick to finish', async () => (await api<TaskSnapshot>(first.url, 'GET', `/api/tasks/${done}`)).state === 'done')
    await api(first.url, 'POST', '/api/limits', { limits: { loop: 1 } })
    const [running] = await submit({ name: 'long', job: 'sleep', params: { ms: 60_000 } })
    const pending = await submit({ batch: { tasks: Array.from({ length: 5 }, (_, i) => ({ name: `queued ${i}`, job: 'sleep', params: { ms: 5 } })) } })
    const [tree] = await submit({ name: 'tree', command: 'sleep 60 & sleep 60 & wait' })
    const worker = await waitFor('the command to run', async () => {
      const t = await api<TaskSnapshot>(first.url, 'GET', `/api/tasks/${tree}`)
      return t.state === 'running' && t.worker
    })
    await new Promise((r) => setTimeout(r, 150)) // one event batch: the running states are stored
    first.child.kill('SIGKILL')
    await new Promise((r) => first.child.once('exit', r))
    const pgid = pidOf(worker)
    expect(aliveInGroup(pgid).length).toBeGreaterThan(0)

    const second = await serve(dataDir)
    const { tasks } = await api<{ tasks: TaskSnapshot[] }>(second.url, 'GET', '/api/tasks')
    const acknowledged = [done, running, ...pending, tree]
    expect(tasks.map((t) => t.id).sort()).toEqual([...acknowledged].sort())
    const byId = new Map(tasks.map((t) => [t.id, t]))
    expect(byId.get(done!)!.state).toBe('done')
    expect(byId.get(running!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    expect(byId.get(tree!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    await waitFor('the orphaned group to be ended', async () => aliveInGroup(pgid).length === 0, 5000)
    await waitFor('the pending tasks to run', async () => {
      const all = await Promise.all(pending.map((id) => api<TaskSnapshot>(second.url, 'GET', `/api/tasks/${id}`)))
      return all.every((t) => t.state === 'done')
    })
    second.child.kill('SIGTERM')
    expect(await new Promise((r) => second.child.once('exit', r))).toBe(0)
  })
})

describe('the data folder lock after a crash', () => {
  it('restarted 0.3 s after kill -9 while the old server is still a zombie: the new one owns the store and recovers', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-zombie-'))
    const first = await serveUnreaped(dataDir)
    await api(first.url, 'POST', '/api/limits', { limits: { loop: 1 } })
    const { ids: [running] } = await api<{ ids: string[] }>(first.url, 'POST', '/api/tasks', { name: 'long', job: 'sleep', params: { ms: 60_000 } })
    const { ids: pending } = await api<{ ids: string[] }>(first.url, 'POST', '/api/tasks', {
      batch: { tasks: Array.from({ length: 5 }, (_, i) => ({ name: `queued ${i}`, job: 'sleep', params: { ms: 5 } })) },
    })
    await waitFor('the long task to run', async () => (await api<TaskSnapshot>(first.url, 'GET', `/api/tasks/${running}`)).state === 'running')
    process.kill(first.pid, 'SIGKILL')
    await waitFor('the killed server to be a zombie', async () => stateOf(first.pid) === 'Z', 10_000)
    await new Promise((r) => setTimeout(r, 300))

    const second = await serve(dataDir)
    // Still a zombie, with its pid taken: the lock went with its death, not with its reaping.
    expect(stateOf(first.pid)).toBe('Z')
    expect(second.output()).not.toMatch(/Warning|in use/)
    expect((await api<Stats>(second.url, 'GET', '/api/stats')).store).toMatchObject({ error: null })
    await waitFor('the recovered pending tasks to run', async () => {
      const all = await Promise.all(pending.map((id) => api<TaskSnapshot>(second.url, 'GET', `/api/tasks/${id}`)))
      return all.every((t) => t.state === 'done')
    })
    expect(await api<TaskSnapshot>(second.url, 'GET', `/api/tasks/${running}`)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    // A submission is stored: the next start sees it.
    const { ids: [later] } = await api<{ ids: string[] }>(second.url, 'POST', '/api/tasks', { name: 'later', job: 'sleep', params: { ms: 1 } })
    await waitFor('the later task to run', async () => (await api<TaskSnapshot>(second.url, 'GET', `/api/tasks/${later}`)).state === 'done')
    second.child.kill('SIGTERM')
    expect(await new Promise((r) => second.child.once('exit', r))).toBe(0)
    await first.reap()
    const third = await serve(dataDir)
    expect((await api<TaskSnapshot>(third.url, 'GET', `/api/tasks/${later}`)).state).toBe('done')
    third.child.kill('SIGTERM')
    expect(await new Promise((r) => third.child.once('exit', r))).toBe(0)
  })

  it('lock files naming a live, unrelated pid (a reused pid) do not keep the folder', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-reused-pid-'))
    // Our parent (the test runner) is alive and is no Taskloop: the pid a dead owner's files name, reused.
    const reused = process.ppid
    writeFileSync(path.join(dataDir, 'taskloop.lock'), String(reused))
    writeFileSync(path.join(dataDir, 'taskloop.owner.json'), JSON.stringify({ pid: reused, command: 'taskloop serve', since: new Date().toISOString() }))
    const s = await serve(dataDir)
    expect(s.output()).not.toMatch(/Warning|in use/)
    expect((await api<Stats>(s.url, 'GET', '/api/stats')).store).toMatchObject({ error: null })
    s.child.kill('SIGTERM')
    expect(await new Promise((r) => s.child.once('exit', r))).toBe(0)
  })
})
