// Starts the real headless server (`taskloop serve`) for a test and stops it like a user would.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '../..')

export interface ServerProcess {
  /** The UI address the server printed. */
  url: string
  child: ChildProcess
  /** Everything the server wrote, for failure messages. */
  output(): string
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string | null>
  /** Ctrl+C, then SIGKILL to its whole process group if it has not exited after `ms`. */
  stop(ms?: number): Promise<number | string | null>
}

/** `auth: true` keeps the token (the printed URL carries it); the UI tests run without one. */
export async function startServer(extraArgs: string[] = [], options: { auth?: boolean } = {}): Promise<ServerProcess> {
  const authArgs = options.auth ? [] : ['--no-auth']
  const child = spawn(process.execPath, ['bin/taskloop.mjs', 'serve', '--port', '0', ...authArgs, ...extraArgs], {
    cwd: root,
    // Tasks and logs go to a throwaway data folder, never the real ~/.local/share/taskloop.
    env: { ...process.env, XDG_DATA_HOME: mkdtempSync(path.join(os.tmpdir(), 'taskloop-e2e-data-')) },
    // Its own process group: at the end nothing it started may outlive the test.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)))

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`taskloop serve printed no URL within 20 s:\n${out}`)), 20_000)
    const look = (): void => {
      const m = /Taskloop UI: (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', look)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`taskloop serve exited (${code}) before printing its URL:\n${out}`))
    })
  })

  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal)
    } catch {
      // already gone
    }
  }

  return {
    url,
    child,
    output: () => out,
    exited,
    async stop(ms = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      const timer = setTimeout(() => killGroup('SIGKILL'), ms)
      const code = await exited
      clearTimeout(timer)
      killGroup('SIGKILL') // anything left in the group after the server itself exited
      return code
    },
  }
}
