// Global setup of both runners (Vitest and Playwright): builds out/ (main, CLI, preload, renderer)
// when any source is newer than the build, so every test runs the code in the tree. The tests
// start the CLI and the server as users do, from the build (a start from the TypeScript sources
// takes about three times the CPU).
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
// @ts-expect-error -- plain .mjs module shared with bin/taskloop.mjs, no types
import { newestSource } from '../../bin/sources.mjs'

const root = path.resolve(import.meta.dirname, '../..')
const OUTPUTS = ['out/main/index.js', 'out/main/cli.js', 'out/preload/index.cjs', 'out/renderer/index.html']

export default function buildOut(): void {
  const outputs = OUTPUTS.map((o) => path.join(root, o))
  const built = outputs.every((o) => existsSync(o)) ? Math.min(...outputs.map((o) => statSync(o).mtimeMs)) : 0
  // The sources bin/taskloop.mjs watches, and the package file (its dependencies shape the bundle).
  if (built > (newestSource(root, ['package.json']) as number)) return
  console.log('tests: out/ is missing or older than the sources; running `npx electron-vite build`')
  const result = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`electron-vite build failed (exit ${result.status})`)
}
