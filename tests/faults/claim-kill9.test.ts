// A task runs at most once across kill -9: its start is stored before its job starts, so a
// server killed just after acknowledging a command finds it interrupted on the next start, never
// pending (which would run it a second time).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { CLI_ENTRY } from '../helpers/cli'

const root = path.resolve(import.meta.dirname, '../..')
const ROUNDS = 20
const started: ChildProcess[] = []
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [...CLI_ENTRY, 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  started.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30_000)
  return { child, url }
}

const lines = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0)

describe('kill -9 right after a command was acknowledged', () => {
  it(`never runs it twice (${ROUNDS} kills at random moments 0–50 ms after the 201)`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-claim-'))
    const dataDir = path.join(dir, 'data')
    // Each round's restart is the next round's server: one start per round.
    let host = await serve(dataDir)
    const rounds: { id: string; file: string; delay: number }[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const file = path.join(dir, `ran-${i}.txt`)
      const res = await fetch(`${host.url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `append ${i}`, argv: ['sh', '-c', `echo ran >> '${file}'`] }),
      })
      expect(res.status).toBe(201)
      const { ids } = (await res.json()) as { ids: string[] }
      const delay = Math.random() * 50
      await new Promise((r) => setTimeout(r, delay))
      const exited = new Promise((r) => host.child.once('exit', r))
      host.child.kill('SIGKILL')
      await exited
      rounds.push({ id: ids[0]!, file, delay })
      host = await serve(dataDir)
      const url = host.url
      const task = await waitFor(`task of round ${i} to settle`, async () => {
        const t = (await (await fetch(`${url}/api/tasks/${ids[0]}`)).json()) as TaskSnapshot
        return (t.state === 'done' || t.state === 'failed') && t
      })
      // Done: it ran once. Failed: it was claimed before the kill and is not run again.
      if (task.state === 'done') expect(lines(file)).toBe(1)
      else expect(task).toMatchObject({ state: 'failed', reason: 'interrupted', attempt: 1 })
    }
    // Nothing from an earlier round ran again after a later restart.
    const { tasks } = (await (await fetch(`${host.url}/api/tasks`)).json()) as { tasks: TaskSnapshot[] }
    for (const r of rounds) {
      expect(lines(r.file), `round at ${r.delay.toFixed(1)} ms`).toBeLessThanOrEqual(1)
      expect(tasks.find((t) => t.id === r.id)?.state).toMatch(/^(done|failed)$/)
    }
    const exited = new Promise((r) => host.child.once('exit', r))
    host.child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 300_000)
})
