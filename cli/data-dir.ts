// Where `taskloop serve` and `taskloop run` keep their task store and log files, and how they
// refuse to start when the store cannot be used.
import { readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { makePrivateDir, STORE_EXIT_CODES, StoreError } from '../engine/data-folder'
import type { EngineOptions } from '../engine/handle'
import { startEngineThread, type EngineClient } from '../engine/thread/client'

/** $XDG_DATA_HOME/taskloop, or ~/.local/share/taskloop. */
export function defaultDataHome(): string {
  const xdg = process.env.XDG_DATA_HOME
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'share'), 'taskloop')
}

const KEEP_RUNS = 20

/**
 * Each `taskloop run` gets a folder of its own under runs/ (its tasks and full logs stay there
 * after it exits), so a run never picks up another's pending work; the oldest beyond 20 are removed.
 */
export function newRunDir(home = defaultDataHome()): string {
  const runs = path.join(home, 'runs')
  makePrivateDir(runs)
  const names = readdirSync(runs).sort()
  for (const old of names.slice(0, Math.max(0, names.length - (KEEP_RUNS - 1)))) {
    rmSync(path.join(runs, old), { recursive: true, force: true })
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  return path.join(runs, `${stamp}-${process.pid}`)
}

/**
 * When the engine could not start because of its store: prints one line naming the folder and the
 * reason, and returns the exit code for that reason (see the usage in cli.ts). Null for any other error.
 */
function storeRefusal(command: 'serve' | 'run', e: unknown): number | null {
  const refused = StoreError.from(e)
  if (!refused) return null
  process.stderr.write(`taskloop ${command}: ${refused.message.replace(/\s*\n\s*/g, ' ')}\n`)
  return STORE_EXIT_CODES[refused.problem]
}

/**
 * Starts the engine thread for `taskloop serve` or `run`, owning the data folder as that command.
 * No store, no start: when the store cannot be used, one line says why and the exit code comes
 * back instead (running without a store is only ever the explicit --no-store). `failed` runs on
 * either failure (the caller lets its held signals go).
 */
export async function startEngineOrRefuse(
  command: 'serve' | 'run',
  options: EngineOptions & { resetStore?: boolean },
  failed: () => void,
): Promise<EngineClient | number> {
  try {
    return await startEngineThread(options.dataDir ? { ...options, owner: `taskloop ${command}` } : options)
  } catch (e) {
    failed()
    const code = storeRefusal(command, e)
    if (code !== null) return code
    throw e
  }
}
