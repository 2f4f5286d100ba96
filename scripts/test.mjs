// `npm test`: every check the project has, in one command that also works on a fresh clone.
// Installs what is missing, runs build, typecheck, lint, Vitest and Playwright (each even if an
// earlier one failed, except e2e after a failed build), then prints a summary whose last line is
// `N passed, N failed, N skipped`: tests from the JSON reports, plus one failure per failed check.
// Exits 1 if anything failed, 130 if interrupted.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { childEnv, ensureDeps, processes, root } from './lib.mjs'

const CI = Boolean(process.env.CI) && process.env.CI !== 'false'
const linux = process.platform === 'linux'
/** POSIX: each step runs in its own process group, so Ctrl+C and leftovers are handled per step. */
const groups = process.platform !== 'win32'
/** A hung runner must not eat the CI budget: each step is stopped after this long. */
const STEP_TIMEOUT_MS = Number(process.env.TASKLOOP_STEP_TIMEOUT_MS) || 20 * 60_000
const VITEST_JSON = 'test-results/vitest.json'
const PLAYWRIGHT_JSON = 'test-results/playwright.json'

/** @type {Array<{name: string, ms?: number} & ({kind: 'check', ok: boolean, detail?: string} | {kind: 'tests', passed: number, failed: number, skipped: number, note?: string} | {kind: 'skipped', reason: string})>} */
const rows = []
let current = null // the running step's child, to pass Ctrl+C on
let interrupted = false

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
const onPath = (name) => (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, name)))

/** Signals a step's whole process group (signal 0: is any of it alive?). */
function signalStep(child, signal) {
  try {
    process.kill(groups ? -child.pid : child.pid, signal)
    return true
  } catch {
    return false // already gone
  }
}

/** Live (not zombie) members of a process group, as "pid name", after up to 1 s for them to finish exiting. Linux only. */
async function leftovers(pgid) {
  if (!groups || !pgid) return []
  let live = []
  for (let i = 0; i < 10; i++) {
    live = processes().filter((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => `${p.pid} ${p.comm}`)
    if (!live.length) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return live
}

/** Runs one command in its own process group (so leftovers can be found and killed); resolves {status, ms, note}. */
function run(command, args, env = childEnv) {
  return new Promise((resolve) => {
    const started = Date.now()
    console.log(`\n▶ ${[command, ...args].join(' ')}`)
    // Windows: through the shell, for the .cmd shims in node_modules/.bin.
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: groups, shell: !groups })
    current = child
    let note
    const timer = setTimeout(() => {
      note = `timed out after ${seconds(STEP_TIMEOUT_MS)}`
      signalStep(child, 'SIGTERM')
      setTimeout(() => signalStep(child, 'SIGKILL'), 5000).unref()
    }, STEP_TIMEOUT_MS)
    const done = async (status) => {
      clearTimeout(timer)
      current = null
      if (interrupted) note ??= 'interrupted'
      const ms = Date.now() - started
      // Anything still in the group a moment later outlived its runner (a leaked worker, server or
      // browser): say so, then end it.
      const left = await leftovers(child.pid)
      if (left.length) {
        console.log(`note: \`${command}\` left ${left.length} process(es) behind (${left.join(', ')}); killing them`)
        signalStep(child, 'SIGKILL')
      }
      resolve({ status, ms, note })
    }
    // A command that cannot start (not installed) gets 'error' and no 'close'.
    child.on('error', (err) => {
      note = `could not start: ${err.message}`
      if (!child.pid) done(127)
    })
    child.on('close', (code, signal) => done(code ?? (signal ? 128 : 1)))
  })
}

/** A check: passes when all its commands exit 0 (all are run, so every error is printed). */
async function check(name, commands) {
  const parts = []
  let ms = 0
  for (const [command, args] of commands) {
    if (interrupted) break
    const r = await run(command, args)
    ms += r.ms
    const ok = r.status === 0
    parts.push({ command, ok, note: r.note })
    console.log(`${ok ? '✔' : '✘'} ${name} (${command}): ${ok ? 'passed' : `failed, ${r.note ?? `exit ${r.status}`}`} in ${seconds(r.ms)}`)
  }
  const ok = parts.length === commands.length && parts.every((p) => p.ok)
  const detail = commands.length > 1 ? parts.map((p) => `${p.command} ${p.ok ? 'passed' : 'failed'}`).join(', ') : parts[0]?.note
  rows.push({ name, kind: 'check', ok, ms, detail })
  return ok
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(path.join(root, file), 'utf8'))
  } catch {
    return null
  }
}

/** Counts from a runner's report; a non-zero exit with no failing test (crash, config error, no tests) is one failure. */
function tests(name, r, counts) {
  const row = { name, kind: 'tests', ms: r.ms, passed: 0, failed: 0, skipped: 0, ...counts }
  if (!counts) row.note = r.note ?? `no JSON report (exit ${r.status})`
  if (r.status !== 0 && row.failed === 0) {
    row.failed = 1
    row.note ??= r.note ?? `exited ${r.status} although no test failed (see its output above)`
  }
  rows.push(row)
  console.log(`${row.failed ? '✘' : '✔'} ${name}: ${row.passed} passed, ${row.failed} failed, ${row.skipped} skipped in ${seconds(r.ms)}`)
}

async function vitest() {
  rmSync(path.join(root, VITEST_JSON), { force: true })
  const r = await run('vitest', ['run', '--reporter=default', '--reporter=json', `--outputFile=${VITEST_JSON}`])
  // Read now: Playwright may empty test-results/ (its default outputDir) when it starts.
  const report = readJson(VITEST_JSON)
  let counts
  if (report) {
    // A file that fails before or outside its tests (import error) has no failed test: count it once.
    const brokenFiles = (report.testResults ?? []).filter(
      (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length
    counts = {
      passed: report.numPassedTests ?? 0,
      failed: (report.numFailedTests ?? 0) + brokenFiles,
      skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    }
  }
  tests('vitest', r, counts)
}

/** Skip reasons from a Playwright JSON report, with how many tests each one covers. */
function skipReasons(report) {
  const reasons = new Map()
  const visit = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'skipped') continue
        const notes = [...(t.annotations ?? []), ...(t.results ?? []).flatMap((res) => res.annotations ?? [])]
        const reason = notes.find((a) => a.type === 'skip' || a.type === 'fixme')?.description || '(no reason given)'
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
      }
    }
    for (const child of suite.suites ?? []) visit(child)
  }
  for (const suite of report.suites ?? []) visit(suite)
  return reasons
}

async function playwright(buildOk) {
  const config = ['playwright.config.ts', 'playwright.config.mts', 'playwright.config.js', 'playwright.config.mjs'].find((f) => existsSync(path.join(root, f)))
  const skip = !config ? 'no playwright.config.* yet' : !buildOk ? 'the build failed, and the e2e tests run the built app in out/' : null
  if (skip) {
    console.log(`\n– playwright: skipped, ${skip}`)
    rows.push({ name: 'playwright', kind: 'skipped', reason: skip })
    return
  }
  rmSync(path.join(root, PLAYWRIGHT_JSON), { force: true })
  // Electron needs a display; headless Chromium does not. A CI run gets its own, even if one is set.
  const wantDisplay = linux && (CI || (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY))
  const xvfb = wantDisplay && onPath('xvfb-run')
  if (wantDisplay && !xvfb) console.log('note: no display and no xvfb-run (Debian: apt-get install xvfb): Electron tests cannot open windows')
  const [command, args] = xvfb ? ['xvfb-run', ['-a', '-s', '-screen 0 1280x1024x24', 'playwright', 'test']] : ['playwright', ['test']]
  // The HTML reporter would otherwise serve its report after a failure and wait for Ctrl+C.
  const r = await run(command, args, { ...childEnv, PW_TEST_HTML_REPORT_OPEN: 'never' })
  const report = readJson(PLAYWRIGHT_JSON)
  let counts
  if (report?.stats) {
    const s = report.stats
    counts = {
      passed: (s.expected ?? 0) + (s.flaky ?? 0),
      // Errors outside tests (global setup, a config that throws) fail the run without failing a test.
      failed: (s.unexpected ?? 0) + (s.unexpected ? 0 : (report.errors ?? []).length),
      skipped: s.skipped ?? 0,
    }
    if (s.flaky) counts.note = `${s.flaky} flaky (passed on retry)`
    for (const [reason, n] of skipReasons(report)) console.log(`  skipped ${n}: ${reason}`)
  }
  tests('playwright', r, counts)
}

/** Chromium (browser tests) and xvfb (Electron tests without a display) from Debian, when we may install them. */
function ensureBrowser() {
  if (!linux) return
  const packages = []
  if (!existsSync('/usr/bin/chromium')) packages.push('chromium', 'fonts-liberation')
  if (!onPath('xvfb-run')) packages.push('xvfb', 'xauth')
  if (!packages.length) return
  const isRoot = process.getuid?.() === 0
  const sudo = !isRoot && onPath('sudo') && spawnSync('sudo', ['-n', 'true']).status === 0
  if ((isRoot || sudo) && onPath('apt-get')) {
    console.log(`Installing ${packages.join(' ')} from Debian (browser and Electron tests need them)`)
    const prefix = sudo ? ['sudo', '-n'] : []
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    for (const args of [['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages]]) {
      const [command, ...rest] = [...prefix, ...args]
      if (spawnSync(command, rest, { stdio: ['ignore', 'ignore', 'inherit'], env }).status !== 0) break
    }
  }
  if (!existsSync('/usr/bin/chromium')) {
    console.log('The browser tests need Chromium at /usr/bin/chromium (Debian: sudo apt-get install chromium xvfb); they will fail without it.')
  }
}

function summary() {
  const pad = (s, n) => s.padEnd(n)
  console.log('\n── Summary ──────────────────────────────────────────')
  for (const row of rows) {
    const time = row.ms === undefined ? '' : `  ${seconds(row.ms)}`
    if (row.kind === 'check') console.log(`${pad(row.name, 11)} check ${row.ok ? 'passed' : 'FAILED'}${time}${row.detail ? `  (${row.detail})` : ''}`)
    else if (row.kind === 'skipped') console.log(`${pad(row.name, 11)} skipped: ${row.reason}`)
    else console.log(`${pad(row.name, 11)} ${row.passed} passed, ${row.failed} failed, ${row.skipped} skipped${time}${row.note ? `  (${row.note})` : ''}`)
  }
  if (interrupted) console.log('interrupted: the remaining steps did not run')
  const sum = (key) => rows.reduce((n, row) => n + (row.kind === 'tests' ? row[key] : 0), 0)
  const failedChecks = rows.filter((row) => row.kind === 'check' && !row.ok).length
  const failed = sum('failed') + failedChecks
  // Nothing may be printed after this line: CI reads it as the result.
  console.log(`${sum('passed')} passed, ${failed} failed, ${sum('skipped')} skipped`)
  return failed
}

// A Ctrl+C reaches us only (the steps run in their own process groups): pass it on once, then stop.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    const again = interrupted
    interrupted = true
    if (current && groups) signalStep(current, again ? 'SIGKILL' : signal)
  })
}

/** Install, then every step in order; a step runs even if an earlier one failed. */
async function main() {
  if (!ensureDeps()) {
    rows.push({ name: 'install', kind: 'check', ok: false, detail: 'npm could not install the dependencies' })
    return
  }
  ensureBrowser()
  let buildOk = false
  const plan = [
    async () => (buildOk = await check('build', [['electron-vite', ['build']]])),
    () => check('typecheck', [['tsc', ['--noEmit', '-p', 'tsconfig.json']], ['vue-tsc', ['--noEmit', '-p', 'tsconfig.web.json']]]),
    () => check('lint', [['eslint', ['.']]]),
    vitest,
    () => playwright(buildOk),
  ]
  for (const step of plan) {
    if (interrupted) break
    await step()
  }
}

const t0 = Date.now()
await main()
console.log(`\nAll steps took ${seconds(Date.now() - t0)}.`)
const failed = summary()
// exitCode, not exit(): let stdout drain (pipes are asynchronous on some platforms) so the summary is not cut.
process.exitCode = interrupted ? 130 : failed ? 1 : 0
