// Commands whose descendants escape the process group (setsid -f, a double fork with setsid): a
// real `taskloop serve`, real signals; after its shutdown, or after a kill -9 and the next start,
// none of them is left (docs/ARCHITECTURE.md "Processes a command leaves behind").
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TaskSnapshot } from '../../common/types'
import { waitFor } from '../helpers/engine'
import { aliveWithArg, killWithArg, survivorsWithArg, uniqueSleep } from '../helpers/proc'
import { api, serve, type ServeProcess } from './serve-process'

const started: ServeProcess[] = []
const sleeps: string[] = []
afterEach(() => {
  for (const s of started.splice(0)) if (s.child.exitCode === null) s.child.kill('SIGKILL')
  sleeps.splice(0).forEach(killWithArg)
})
const sleeper = (): string => {
  const arg = uniqueSleep()
  sleeps.push(arg)
  return arg
}

async function start(dataDir: string): Promise<ServeProcess> {
  const s = await serve(dataDir, ['--grace-ms', '1000'])
  started.push(s)
  return s
}

async function submitEscapees(s: ServeProcess, arg: string): Promise<{ running: string; ended: string }> {
  const submit = async (spec: unknown) => (await api<{ ids: string[] }>(s.url, 'POST', '/api/tasks', spec)).ids[0]!
  const running = await submit({ name: 'daemons', command: `setsid -f sleep ${arg}; (setsid sh -c 'sleep ${arg} & exit' &); sleep ${arg}` })
  const ended = await submit({ name: 'exits at once', command: `setsid -f sleep ${arg}` })
  await waitFor('the running one to start its three sleeps', async () => {
    const t = await api<TaskSnapshot>(s.url, 'GET', `/api/tasks/${running}`)
    return t.state === 'running' && aliveWithArg(arg).length >= 3
  })
  return { running, ended }
}

describe('descendants that leave the process group, with taskloop serve', () => {
  it('a shutdown (SIGTERM) ends every one of them', async () => {
    const arg = sleeper()
    const s = await start(mkdtempSync(path.join(os.tmpdir(), 'taskloop-daemons-')))
    const { ended } = await submitEscapees(s, arg)
    await waitFor('the quick one to end', async () => (await api<TaskSnapshot>(s.url, 'GET', `/api/tasks/${ended}`)).state === 'done')
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    expect(await survivorsWithArg(arg)).toEqual([])
  })

  it('after a kill -9, the next start on the same data folder ends them', async () => {
    const arg = sleeper()
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-daemons-'))
    const first = await start(dataDir)
    await submitEscapees(first, arg)
    first.child.kill('SIGKILL')
    await first.exited
    expect(aliveWithArg(arg).length).toBeGreaterThanOrEqual(3)
    const second = await start(dataDir)
    expect(await survivorsWithArg(arg)).toEqual([])
    const snap = await api<{ notice?: string }>(second.url, 'GET', '/api/snapshot')
    expect(snap.notice).toMatch(/left running by the previous run \(it was killed\) were ended/)
  })
})
