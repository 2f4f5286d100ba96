// Shared by scripts/{start,dev,test}.mjs: dependency install, Electron detection, signal forwarding.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Env for children: local binaries first, as `npm run` does (the scripts may also run as `node scripts/x.mjs`). */
export const childEnv = {
  ...process.env,
  PATH: `${path.join(root, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
}

/** Why node_modules must be (re)installed, or null. npm stamps node_modules/.package-lock.json on every install. */
export function depsStale() {
  const modules = path.join(root, 'node_modules')
  if (!existsSync(modules)) return 'node_modules is missing'
  const lock = path.join(root, 'package-lock.json')
  const stamp = path.join(modules, '.package-lock.json')
  const installed = statSync(existsSync(stamp) ? stamp : modules).mtimeMs
  if (existsSync(lock) && statSync(lock).mtimeMs > installed) return 'package-lock.json is newer than node_modules'
  return null
}

/** Installs dependencies when needed, quietly (npm's warnings are a wall of noise); false if npm failed. */
export function ensureDeps() {
  const why = depsStale()
  if (!why) return true
  const command = existsSync(path.join(root, 'package-lock.json')) ? 'ci' : 'install'
  console.log(`${why}: running npm ${command}`)
  // Through the shell so that `npm` is found as npm.cmd on Windows too.
  return quietly(`npm ${command} --no-audit --no-fund`)
}

/** Runs a shell command with its output held back; prints it only when the command fails. */
export function quietly(command, cwd = root) {
  const r = spawnSync(command, { cwd, shell: true, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 })
  if (r.status === 0) return true
  process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`)
  console.error(`${command} failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status ?? r.signal})`}`)
  return false
}

/** The Electron executable if it is installed, else null. Never `require('electron')`: that tries to download it. */
export function electronBinary() {
  const pkg = path.join(root, 'node_modules', 'electron')
  const pathTxt = path.join(pkg, 'path.txt')
  const name = existsSync(pathTxt) ? readFileSync(pathTxt, 'utf8').trim() : ''
  // The same lookup as node_modules/electron/index.js.
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH
  const file = override ? path.join(override, name || 'electron') : name ? path.join(pkg, 'dist', name) : ''
  return file && existsSync(file) ? file : null
}

/** Why Electron cannot open a window here, or null when it can. */
export function whyNoElectron() {
  const file = electronBinary()
  if (!file) return 'Electron binary not installed (downloads from GitHub, unreachable here)'
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return 'No display for Electron (DISPLAY and WAYLAND_DISPLAY are unset)'
  }
  // Present is not enough: it may lack shared libraries (libnss3, libgtk-3 ...).
  const probe = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } })
  if (probe.status !== 0) {
    const detail = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n')[0]
    return `Electron binary does not start (${detail})`
  }
  return null
}

/** Chromium refuses to run as root with its sandbox on (containers, CI). */
export const needsNoSandbox = process.platform === 'linux' && process.getuid?.() === 0

/** Newest modification time of the files under `entries` (relative to the root; missing ones ignored). */
function newestMtime(entries) {
  let newest = 0
  const walk = (p) => {
    const st = statSync(p, { throwIfNoEntry: false })
    if (!st) return
    if (!st.isDirectory()) newest = Math.max(newest, st.mtimeMs)
    else for (const name of readdirSync(p)) if (name !== 'node_modules') walk(path.join(p, name))
  }
  for (const e of entries) walk(path.join(root, e))
  return newest
}

/** Runs `electron-vite build` when out/ is missing or older than the sources; false if the build failed. */
export function buildIfStale() {
  const sources = ['main', 'engine', 'server', 'cli', 'preload', 'renderer', 'common', 'electron.vite.config.ts', 'package.json', 'package-lock.json']
  const built = ['out/main/index.js', 'out/renderer/index.html'].every((f) => existsSync(path.join(root, f)))
  if (built && newestMtime(sources) <= newestMtime(['out'])) return true
  console.log('Building (out/ is missing or older than the sources): electron-vite build')
  const shell = process.platform === 'win32' // node_modules/.bin holds .cmd shims there
  return spawnSync('electron-vite', ['build'], { cwd: root, env: childEnv, stdio: 'inherit', shell }).status === 0
}

/** Linux processes from /proc: {pid, comm, state, ppid, pgrp}; empty where there is no /proc. */
export function processes() {
  if (!existsSync('/proc')) return []
  const list = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      list.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), state, ppid: Number(ppid), pgrp: Number(pgrp) })
    } catch {
      // exited while we looked
    }
  }
  return list
}

/** Exit status the way a shell reports it: the code, or 128 + signal number. */
const exitStatus = (code, signal) => code ?? 128 + (constants.signals[signal] ?? 0)

/**
 * Runs a long-lived child (the app, the headless server, electron-vite dev) and passes it our
 * SIGINT/SIGTERM/SIGHUP, then exits with its status. On POSIX the child gets its own process
 * group, so that a terminal Ctrl+C reaches it once, through us, and not twice (once from the
 * terminal, once forwarded): a second SIGINT means "escalate" to the app. `target` picks the
 * pid to signal (dev.mjs aims past electron-vite at Electron itself).
 */
export function runForwardingSignals(command, args, { env = childEnv, target } = {}) {
  const ownGroup = process.platform !== 'win32'
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: ownGroup })
  child.on('error', (err) => {
    console.error(`Could not start ${command}: ${err.message}`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => process.exit(exitStatus(code, signal)))
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (!ownGroup) return // Windows: the console already delivered Ctrl+C to the child
      try {
        process.kill(target?.(child) ?? child.pid, signal)
      } catch {
        // already gone: its exit handler ends us
      }
    })
  }
  return child
}
