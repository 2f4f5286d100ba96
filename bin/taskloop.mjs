#!/usr/bin/env node
// The `taskloop` command (package.json "bin"). Which code it runs:
//   1. the built CLI, out/main/cli.js (electron-vite builds it from cli/cli.ts): preferred;
//   2. when it is missing or older than the sources, `npx electron-vite build` first (one line on
//      stderr says so; the build's output is shown only when it fails), then 1;
//   3. when that build fails in a source checkout, or with TASKLOOP_FROM_SOURCE=1, the TypeScript
//      source through tsx plus the test helpers' hooks for the engine's `?modulePath` imports
//      (development only: slower start, needs the devDependencies);
//   4. failing all that, a stale build beats none.
// The CLI is imported, not spawned, so signals (Ctrl+C, SIGTERM) reach it directly. Nothing here
// writes to stdout: `taskloop serve` prints exactly one line there.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { newestSource } from './sources.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const built = path.join(root, 'out/main/cli.js')
const builtUi = path.join(root, 'out/renderer/index.html')
const source = path.join(root, 'cli/cli.ts')
const sourceHooks = path.join(root, 'tests/helpers/ts-entry-register.mjs')
const canRunSource = existsSync(source) && existsSync(sourceHooks) && existsSync(path.join(root, 'node_modules/tsx'))

function isStale() {
  if (!existsSync(built) || !existsSync(builtUi)) return true
  return newestSource(root) > Math.min(statSync(built).mtimeMs, statSync(builtUi).mtimeMs)
}

function build() {
  const why = existsSync(built) ? 'is older than the sources' : 'is missing'
  process.stderr.write(`taskloop: out/main/cli.js ${why}; building it with \`npx electron-vite build\`...\n`)
  const result = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  if (result.status === 0 && existsSync(built)) return true
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.trim()
  process.stderr.write(`${output.split('\n').slice(-15).join('\n')}\ntaskloop: the build failed.\n`)
  return false
}

async function loadSource() {
  await import(pathToFileURL(sourceHooks).href)
  return import(pathToFileURL(source).href)
}

async function loadCli() {
  if (process.env.TASKLOOP_FROM_SOURCE === '1' && canRunSource) return loadSource()
  if (!isStale() || build()) return import(pathToFileURL(built).href)
  if (canRunSource) {
    process.stderr.write('taskloop: running the TypeScript source instead.\n')
    return loadSource()
  }
  if (existsSync(built)) {
    process.stderr.write('taskloop: running the existing (older) build.\n')
    return import(pathToFileURL(built).href)
  }
  process.stderr.write('taskloop: nothing to run: no build, and the TypeScript source cannot run here.\n')
  process.exit(1)
}

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
try {
  const cli = await loadCli()
  process.exit(await cli.main(process.argv.slice(2)))
} catch (e) {
  process.stderr.write(`taskloop: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exit(1)
}
