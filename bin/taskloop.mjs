#!/usr/bin/env node
// The `taskloop` command (package.json "bin"). Which code it runs, in this order:
//   1. the built CLI, out/main/cli.js (electron-vite builds it from main/server/cli.ts): always preferred;
//   2. when it is missing, `npx electron-vite build` once (serve needs the built renderer anyway), then 1;
//   3. when building is not possible (no electron-vite, a failed build) in a source checkout, or when
//      TASKLOOP_FROM_SOURCE=1, the TypeScript source through tsx, with the test helpers' hooks that
//      resolve the engine's `?modulePath` imports (development only: slower start, needs devDependencies).
// The CLI is imported, not spawned, so signals (Ctrl+C, SIGTERM) reach it directly.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const built = path.join(root, 'out/main/cli.js')
const source = path.join(root, 'main/server/cli.ts')
const sourceHooks = path.join(root, 'tests/helpers/ts-entry-register.mjs')
const canRunSource = existsSync(source) && existsSync(sourceHooks) && existsSync(path.join(root, 'node_modules/tsx'))

async function loadCli() {
  if (process.env.TASKLOOP_FROM_SOURCE === '1' && canRunSource) return loadSource()
  if (!existsSync(built)) {
    process.stderr.write('taskloop: out/main/cli.js is missing; building it with `npx electron-vite build`...\n')
    // Quiet unless it fails: the command's own output is what the user asked for.
    const build = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    if (build.status !== 0 || !existsSync(built)) {
      const output = `${build.stdout ?? ''}${build.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
      process.stderr.write(`${output}\n`)
      if (!canRunSource) {
        process.stderr.write('taskloop: the build failed and the TypeScript source cannot run here.\n')
        process.exit(1)
      }
      process.stderr.write('taskloop: the build failed; running the TypeScript source instead.\n')
      return loadSource()
    }
  }
  return import(pathToFileURL(built).href)
}

async function loadSource() {
  await import(pathToFileURL(sourceHooks).href)
  return import(pathToFileURL(source).href)
}

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
try {
  const cli = await loadCli()
  process.exit(await cli.main(process.argv.slice(2)))
} catch (e) {
  process.stderr.write(`taskloop: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exit(1)
}
