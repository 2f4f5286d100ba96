// Global setup of both runners (Vitest and Playwright): builds out/ (main, CLI, preload, renderer)
// when any source is newer than the build, so every test runs the code in the tree. The tests
// start the CLI and the server as users do, from the build (a start from the TypeScript sources
// takes about three times the CPU).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '../..')
// What bin/taskloop.mjs checks, and the package file (its dependencies shape the bundle).
const SOURCES = ['common', 'main', 'engine', 'cluster', 'server', 'cli', 'preload', 'renderer', 'electron.vite.config.ts', 'package.json']
const OUTPUTS = ['out/main/index.js', 'out/main/cli.js', 'out/preload/index.cjs', 'out/renderer/index.html']

function newest(p: string): number {
  const st = statSync(p)
  if (!st.isDirectory()) return st.mtimeMs
  let max = 0
  for (const name of readdirSync(p)) if (name !== 'node_modules') max = Math.max(max, newest(path.join(p, name)))
  return max
}

export default function buildOut(): void {
  const outputs = OUTPUTS.map((o) => path.join(root, o))
  const built = outputs.every((o) => existsSync(o)) ? Math.min(...outputs.map((o) => statSync(o).mtimeMs)) : 0
  const sources = Math.max(...SOURCES.map((s) => path.join(root, s)).filter(existsSync).map(newest))
  if (built > sources) return
  console.log('tests: out/ is missing or older than the sources; running `npx electron-vite build`')
  const result = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`electron-vite build failed (exit ${result.status})`)
}
