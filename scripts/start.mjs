// `npm start`: install if needed, build if stale, then open the app in Electron, or, where
// Electron cannot run, serve the same UI to a browser with the headless server.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { buildIfStale, electronBinary, ensureDeps, needsNoSandbox, root, runForwardingSignals, whyNoElectron } from './lib.mjs'

const args = process.argv.slice(2)

if (!ensureDeps() || !buildIfStale()) process.exit(1)

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
