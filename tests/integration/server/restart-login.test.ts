// A restart of `taskloop serve` on the same data folder keeps its login: the real CLI as a child
// process, twice on one port and folder, and a session cookie carried across.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SESSION_SECRET_FILE, TOKEN_FILE } from '../../../cli/serve'
import { waitFor } from './helpers'
import { CLI_ENTRY } from '../../helpers/cli'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface Serve {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

const running = new Set<Serve>()
afterEach(async () => {
  for (const s of running) s.child.kill('SIGKILL')
  await Promise.all([...running].map((s) => s.exited))
})

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Serve {
  const child = spawn(process.execPath, [...CLI_ENTRY, 'serve', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', TASKLOOP_TOKEN: '', ...env },
  })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const started = { child, output: () => out, exited }
  running.add(started)
  void exited.then(() => running.delete(started))
  return started
}

const uiUrl = async (s: Serve): Promise<URL> =>
  new URL((await waitFor(`the URL line in:\n${s.output()}`, () => /Taskloop UI: (\S+)\n/.exec(s.output()), 30_000))[1]!)

async function stop(s: Serve): Promise<number | null> {
  s.child.kill('SIGTERM')
  return s.exited
}

/** A port free right now, so both starts of the server share it (the cookie is named by port). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-restart-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('taskloop serve: a restart of the same data folder keeps the login', () => {
  it('reuses the stored 0600 token and session secret; a cookie works after a restart and fails after the token changes', async () => {
    const dataDir = path.join(dir, 'data')
    const port = await freePort()
    const args = ['--port', String(port), '--data-dir', dataDir, '--shutdown-grace-ms', '1000']

    const first = serve(args)
    const url = await uiUrl(first)
    const token = url.searchParams.get('token')!
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    for (const file of [TOKEN_FILE, SESSION_SECRET_FILE]) {
      expect((await stat(path.join(dataDir, file))).mode & 0o777).toBe(0o600)
    }
    expect((await readFile(path.join(dataDir, TOKEN_FILE), 'utf8')).trim()).toBe(token)
    const login = await fetch(url, { redirect: 'manual' })
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    expect(cookie).toMatch(new RegExp(`^taskloop_session_${port}=[\\w-]+\\.[\\w-]+$`))
    expect(cookie).not.toContain(token)
    const stats = (c: string) => fetch(`http://127.0.0.1:${port}/api/stats`, { headers: { cookie: c } })
    expect((await stats(cookie)).status).toBe(200)
    expect(await stop(first)).toBe(0)

    const second = serve(args)
    expect((await uiUrl(second)).href).toBe(url.href)
    expect((await stats(cookie)).status).toBe(200)
    // A forged signature is refused.
    expect((await stats(cookie.replace(/\.[\w-]+$/, '.AAAA'))).status).toBe(401)
    expect(await stop(second)).toBe(0)

    // A token given by the user wins, is not stored, and ends the sessions signed under the old one.
    const chosen = 'another-chosen-token-0123456789abcdef'
    const third = serve(args, { TASKLOOP_TOKEN: chosen })
    expect((await uiUrl(third)).searchParams.get('token')).toBe(chosen)
    expect((await stats(cookie)).status).toBe(401)
    expect((await readFile(path.join(dataDir, TOKEN_FILE), 'utf8')).trim()).toBe(token)
    expect(await stop(third)).toBe(0)
  }, 120_000)

  it('--no-store keeps sessions in memory: a restart ends them and prints a new token', async () => {
    const port = await freePort()
    const args = ['--port', String(port), '--no-store', '--shutdown-grace-ms', '1000']
    const first = serve(args)
    const url = await uiUrl(first)
    const cookie = (await fetch(url, { redirect: 'manual' })).headers.get('set-cookie')!.split(';')[0]!
    expect(cookie).not.toContain('.')
    expect(await stop(first)).toBe(0)
    const second = serve(args)
    expect((await uiUrl(second)).searchParams.get('token')).not.toBe(url.searchParams.get('token'))
    expect((await fetch(`http://127.0.0.1:${port}/api/stats`, { headers: { cookie } })).status).toBe(401)
    expect(await stop(second)).toBe(0)
  }, 120_000)
})
