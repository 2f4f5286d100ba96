// `node tests/helpers/ts-run.mjs file.ts [args]`: runs a TypeScript script with tsx and the
// `?modulePath` hooks registered in this thread only (as bin/taskloop.mjs runs the sources), not
// through `--import`: a `--import` is inherited by every worker thread and forked child, which
// would each register tsx again (a module-hooks thread and a transform of every module) although
// their entries are compiled (ts-entry.mjs). The benchmarks start workers as the built app does.
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const script = process.argv[2]
if (!script) {
  process.stderr.write('usage: node tests/helpers/ts-run.mjs file.ts [args]\n')
  process.exit(2)
}
await import('./ts-entry-register.mjs')
// The script sees the argv it would have had under `node --import ... file.ts`.
process.argv.splice(1, 1)
await import(pathToFileURL(path.resolve(script)).href)
