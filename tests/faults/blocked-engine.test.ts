// A loop job that never yields (`for (;;) {}`) under `taskloop serve`: the API answers 503 at once
// naming it, SIGTERM still ends the server within the grace plus a few seconds and kills the
// process groups it had started, and the next start fails the blocking task instead of running it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { aliveInGroup, pidOf, survivorsOf } from '../helpers/proc'

const root = path.resolve(import.meta.dirname, '../..')
const GRACE_MS = 1000
const started: ChildProcess[] = []
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

async function serve(dataDir: string, cwd: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      path.join(root, 'tests/helpers/ts-entry-register.mjs'),
      path.join(root, 'cli/cli.ts'),
      'serve',
      '--port',
      '0',
      '--no-auth',
      '--grace-ms',
      String(GRACE_MS),
      '--data-dir',
      dataDir,
    ],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  started.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30_000)
  return { child, url, output: () => out }
}

const post = async (url: string, p: string, body: unknown): Promise<string[]> => {
  const res = await fetch(url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(res.status).toBe(201)
  return ((await res.json()) as { ids: string[] }).ids
}

describe('a loop job that blocks the engine, under taskloop serve', () => {
  it('answers 503 naming it, shuts down on SIGTERM killing every process group, and never runs it again', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-blocked-serve-'))
    const ran = path.join(dir, 'ran.txt')
    writeFileSync(
      path.join(dir, 'jobs.mjs'),
      `import { appendFileSync } from 'node:fs'\nexport async function block() { appendFileSync(${JSON.stringify(ran)}, 'ran\\n'); for (;;) {} }\n`,
    )
    const dataDir = path.join(dir, 'data')
    const first = await serve(dataDir, dir)
    const [cmd] = await post(first.url, '/api/tasks', { name: 'sleeper', command: 'sleep 300 & sleep 300 & wait' })
    const worker = await waitFor('the command to run', async () => {
      const t = (await (await fetch(`${first.url}/api/tasks/${cmd}`)).json()) as TaskSnapshot
      return t.state === 'running' && t.worker
    })
    const pgid = pidOf(worker)
    await waitFor('the sleeps', async () => aliveInGroup(pgid).length >= 3)
    // A long kill grace: the engine stays blocked until the SIGTERM.
    const [blocker] = await post(first.url, '/api/tasks', { name: 'spinner', job: './jobs.mjs#block', killGraceMs: 600_000, onInterrupt: 'requeue' })

    const reply = await waitFor(
      'a 503',
      async () => {
        const res = await fetch(`${first.url}/api/stats`, { signal: AbortSignal.timeout(2000) }).catch(() => null)
        return res?.status === 503 && ((await res.json()) as { code: string; error: string })
      },
      20_000,
    )
    expect(reply.code).toBe('engine-blocked')
    expect(reply.error).toMatch(new RegExp(`loop task ${blocker} \\(spinner\\) has kept its event loop busy for \\d+\\.\\d s`))
    const asked = Date.now()
    const cancel = await fetch(`${first.url}/api/tasks/${blocker}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' } })
    expect(cancel.status, await cancel.text()).toBe(503)
    expect(Date.now() - asked).toBeLessThan(2000)
    expect(first.output()).toMatch(/the engine is blocked: loop task/)

    const stopped = Date.now()
    const exited = new Promise<number | null>((r) => first.child.once('exit', (code) => r(code)))
    first.child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(Date.now() - stopped).toBeLessThan(GRACE_MS + 8000)
    expect(await survivorsOf(pgid, 5000)).toEqual([])

    const second = await serve(dataDir, dir)
    const tasks = await waitFor('the tasks, settled', async () => {
      const { tasks: all } = (await (await fetch(`${second.url}/api/tasks`)).json()) as { tasks: TaskSnapshot[] }
      return all.length === 2 && all.every((t) => t.state === 'failed') && all
    })
    const byId = new Map(tasks.map((t) => [t.id, t]))
    expect(byId.get(blocker!)).toMatchObject({ state: 'failed', reason: 'crashed', attempt: 1 })
    expect(byId.get(blocker!)!.error?.message).toMatch(/^blocked the event loop/)
    expect(byId.get(cmd!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    expect(existsSync(ran) ? readFileSync(ran, 'utf8') : '').toBe('ran\n')
    const exited2 = new Promise<number | null>((r) => second.child.once('exit', (code) => r(code)))
    second.child.kill('SIGTERM')
    expect(await exited2).toBe(0)
  }, 120_000)
})
