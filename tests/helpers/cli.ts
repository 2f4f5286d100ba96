// The `taskloop` CLI as tests start it: a real process, run as users run it (bin/taskloop.mjs, the
// build in out/, which the runners' global setup builds first when it is stale) or from another
// entry such as the TypeScript sources, its output collected, and stopped after each test.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterEach } from 'vitest'

export const ROOT = path.resolve(import.meta.dirname, '../..')
/** The `taskloop` command users run, from out/ (tests/helpers/build-out.ts keeps it current). */
export const CLI_ENTRY = ['./bin/taskloop.mjs']
/** The TypeScript sources through tsx: for what only a run from the sources can show. */
export const FROM_SOURCE = ['./tests/helpers/ts-run.mjs', 'cli/cli.ts']
/**
 * How long a test waits for a CLI it started to get going (print its URL, run its first tasks).
 * One start takes ~0.5 s of CPU (~1.3 s from the sources); several at once on a loaded 2-core machine,
 * beside another test file, take many times that.
 */
export const START_MS = 60_000

export interface Cli {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/**
 * `const cli = useCli()` at the top of a test file; `cli(args)` starts one. Whatever a test left
 * running gets SIGTERM after it (so it shuts its own tasks down), SIGKILL 10 s later.
 */
export function useCli(): (args: string[], options?: { entry?: string[]; env?: NodeJS.ProcessEnv }) => Cli {
  const running = new Set<Cli>()
  afterEach(async () => {
    await Promise.all(
      [...running].map(async (c) => {
        c.child.kill('SIGTERM')
        const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000)
        await c.exited
        clearTimeout(timer)
      }),
    )
  })
  return (args, { entry = CLI_ENTRY, env = {} } = {}) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...env },
    })
    let out = ''
    let err = ''
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const started = { child, stdout: () => out, stderr: () => err, exited }
    running.add(started)
    void exited.then(() => running.delete(started))
    return started
  }
}
