// `taskloop serve` as a user starts it, for the scripts that measure it from outside (bench/ui,
// bench/wire): the built CLI (rebuilt first when stale), no auth, its own process group.
import { spawn } from 'node:child_process'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')

/** Starts the server on a free port; `url` is its origin without a trailing slash. */
export async function startServe(dataDir: string, startMs = 60_000): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['bin/taskloop.mjs', 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from taskloop serve:\n${out}`)), startMs)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /Taskloop UI: (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!.replace(/\?.*$/, '').replace(/\/$/, ''))
      }
    })
  })
  return {
    url,
    async stop() {
      child.kill('SIGINT')
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // the group is gone
      }
    },
  }
}
