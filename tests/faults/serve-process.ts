// A real `taskloop serve`, started as users start it, for tests that signal or kill it.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { waitFor } from '../helpers/engine'
import { CLI_ENTRY } from '../helpers/cli'

const root = path.resolve(import.meta.dirname, '../..')

export interface ServeProcess {
  child: ChildProcess
  url: string
  /** Everything it printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>
}

export async function serve(
  dataDir: string,
  args: string[] = [],
  { env, startMs = 30_000 }: { env?: NodeJS.ProcessEnv; startMs?: number } = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [...CLI_ENTRY, 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir, ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) },
  )
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1)))
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  child.stderr!.on('data', (d: Buffer) => (out += d))
  const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], startMs)
  return { child, url, output: () => out, exited }
}

export async function api<T>(url: string, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(url + p, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
  return (await res.json().catch(() => null)) as T
}
