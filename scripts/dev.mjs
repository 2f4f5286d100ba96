// `npm run dev`: electron-vite dev (hot reload) with a Ctrl+C that reaches Electron exactly once per
// press, so the app's shutdown runs (first press: drain; second press: escalate). Without an
// Electron binary: the headless server from the TypeScript sources, UI in a browser.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { buildIfStale, childEnv, electronBinary, ensureDeps, needsNoSandbox, processes, runForwardingSignals, whyNoElectron } from './lib.mjs'

const args = process.argv.slice(2)

if (!ensureDeps()) process.exit(1)

/** The Electron main process under `ancestor` (not its --type= helpers), found through /proc; null if not (yet) running. */
function electronPid(ancestor) {
  const parentOf = new Map(processes().map((p) => [p.pid, p.ppid]))
  const descends = (pid) => {
    for (let p = parentOf.get(pid); p; p = parentOf.get(p)) if (p === ancestor) return true
    return false
  }
  for (const pid of [...parentOf.keys()].sort((a, b) => a - b)) {
    if (!descends(pid)) continue
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      // argv[0], not the whole line: electron-vite itself is `node …/electron-vite …`.
      if (path.basename(argv[0]).toLowerCase().includes('electron') && !argv.some((a) => a.startsWith('--type='))) return pid
    } catch {
      // exited while we looked
    }
  }
  return null
}

const why = whyNoElectron()
if (!why) {
  // electron-vite reads ELECTRON_EXEC_PATH (it ignores ELECTRON_OVERRIDE_DIST_PATH) and NO_SANDBOX.
  const env = { ...childEnv, ELECTRON_EXEC_PATH: electronBinary(), ...(needsNoSandbox ? { NO_SANDBOX: '1' } : {}) }
  // Before Electron is up (still bundling), the signal goes to electron-vite's whole process group.
  runForwardingSignals('electron-vite', ['dev', ...args], { env, target: (child) => electronPid(child.pid) ?? -child.pid })
} else {
  console.log(`${why}: serving the same UI in your browser instead (headless server from the TypeScript sources).`)
  // The server runs from source but serves the built renderer (out/renderer).
  if (!buildIfStale()) process.exit(1)
  runForwardingSignals(process.execPath, ['--import', './tests/helpers/ts-entry-register.mjs', 'cli/cli.ts', 'serve', '--open', ...args])
}
