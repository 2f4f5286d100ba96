// kill -9 of `taskloop serve` while tasks run: on restart every acknowledged task is there once,
// in a state that says what happened, and the process groups it left behind are ended.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { aliveInGroup, pidOf } from '../helpers/proc'

const root = path.resolve(import.meta.dirname, '../..')
const started: ChildProcess[] = []
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['--import', './tests/helpers/ts-entry-register.mjs', 'cli/cli.ts', 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  started.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30_000)
  return { child, url }
}

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
