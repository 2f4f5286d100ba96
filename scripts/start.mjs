// `npm start`: install if needed, build if stale, then open the app in Electron, or, where
// Electron cannot run, serve the same UI to a browser with the headless server.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { childEnv, electronBinary, ensureDeps, needsNoSandbox, newestMtime, root, runForwardingSignals, whyNoElectron } from './lib.mjs'

const args = process.argv.slice(2)

if (!ensureDeps()) process.exit(1)

const sources = ['main', 'preload', 'renderer', 'common', 'electron.vite.config.ts', 'package.json', 'package-lock.json']
const stale = !existsSync(path.join(root, 'out/main/index.js')) || newestMtime(sources) > newestMtime(['out'])
if (stale) {
  console.log('Building (out/ is missing or older than the sources): electron-vite build')
  const build = spawnSync('electron-vite', ['build'], { cwd: root, env: childEnv, stdio: 'inherit', shell: process.platform === 'win32' })
  if (build.status !== 0) process.exit(build.status || 1)
}

const why = whyNoElectron()
if (!why) {
  runForwardingSignals(electronBinary(), ['.', ...(needsNoSandbox ? ['--no-sandbox'] : []), ...args])
} else {
  console.log(`${why}: serving the same UI in your browser instead.`)
  const cli = path.join(root, 'out/main/cli.js')
  if (!existsSync(cli)) {
    console.error(`The build did not produce ${path.relative(root, cli)} (the headless CLI entry in electron.vite.config.ts).`)
    process.exit(1)
  }
  runForwardingSignals(process.execPath, [cli, 'serve', '--open', ...args])
}
