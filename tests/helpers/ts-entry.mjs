// Runs TypeScript worker/child entries outside electron-vite (Vitest, benchmarks).
// electron-vite compiles `import p from './x?modulePath'` into the built entry's path; here the
// same import yields the path of a small .mjs shim that registers tsx (plus these hooks, so nested
// `?modulePath` imports work inside workers too) and imports the TypeScript source.
// Node 20 workers and forked children do not inherit --import hooks, hence the shim.
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const hooksUrl = pathToFileURL(path.join(root, 'tests/helpers/ts-entry-hooks.mjs')).href

/** Path of a runnable .mjs shim for a TypeScript entry file. */
export function shimFor(source) {
  const dir = path.join(root, 'node_modules', '.taskloop-shims')
  mkdirSync(dir, { recursive: true })
  const hash = createHash('sha1').update(source).digest('hex').slice(0, 8)
  const file = path.join(dir, `${path.basename(source).replace(/\.[cm]?ts$/, '')}-${hash}.mjs`)
  writeFileSync(
    file,
    [
      "import { register as registerTsx } from 'tsx/esm/api'",
      "import { register } from 'node:module'",
      'registerTsx()',
      `register(${JSON.stringify(hooksUrl)})`,
      `await import(${JSON.stringify(pathToFileURL(source).href)})`,
      '',
    ].join('\n'),
  )
  return file
}
