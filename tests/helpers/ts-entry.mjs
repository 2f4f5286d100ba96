// Runs TypeScript worker/child entries outside electron-vite (Vitest, benchmarks, `taskloop` from
// source). electron-vite compiles `import p from './x?modulePath'` into the path of a built chunk;
// here the same import yields the path of that entry compiled the same way: one ES module bundled
// by esbuild from our TypeScript sources, packages left as imports (nested `?modulePath` imports
// become the paths of their own bundles). A worker or child then loads plain JavaScript, as in the
// built app, instead of registering tsx (a module-hooks thread per worker on Node 20) and
// transforming each source file: its start costs what the app's does, not several times more.
// Bundles are kept in node_modules/.taskloop-shims and rebuilt when a source they hold changes.
// Without esbuild, or if the build fails, the entry gets a small shim that registers tsx (plus
// these hooks) and imports the TypeScript source, as before.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const hooksUrl = pathToFileURL(path.join(root, 'tests/helpers/ts-entry-hooks.mjs')).href
const dir = path.join(root, 'node_modules', '.taskloop-shims')
const SUFFIX = '?modulePath'

/** Per process: each entry is checked (and built) once. */
const built = new Map()

/** Path of a runnable .mjs for a TypeScript entry file: its bundle, or a tsx shim. */
export function shimFor(source) {
  let file = built.get(source)
  if (!file) {
    file = bundle(source).catch((e) => {
      process.emitWarning(`${path.relative(root, source)} runs through tsx: the bundle failed (${e instanceof Error ? e.message : e})`)
      return tsxShim(source)
    })
    built.set(source, file)
  }
  return file
}

const stem = (source) => `${path.basename(source).replace(/\.[cm]?ts$/, '')}-${createHash('sha1').update(source).digest('hex').slice(0, 8)}`

/** Written to a temporary name, then renamed: parallel test processes never read half a file. */
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}

function tsxShim(source) {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${stem(source)}.tsx.mjs`)
  writeAtomic(
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

const signature = (file) => {
  try {
    const s = statSync(file)
    return `${s.mtimeMs}:${s.size}`
  } catch {
    return 'missing'
  }
}

/** The bundle, rebuilt only when one of its sources (or a nested entry's) changed since it was built. */
async function bundle(source) {
  mkdirSync(dir, { recursive: true })
  const out = path.join(dir, `${stem(source)}.bundle.mjs`)
  const record = `${out}.inputs.json`
  try {
    const { inputs, nested } = JSON.parse(readFileSync(record, 'utf8'))
    const fresh = Object.entries(inputs).every(([f, sig]) => signature(f) === sig)
    if (fresh) {
      for (const n of nested) await shimFor(n)
      return out
    }
  } catch {
    // no record yet, or unreadable: build
  }
  const { build } = await import('esbuild')
  const nested = []
  const result = await build({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: out,
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
    plugins: [
      {
        name: 'taskloop-module-path',
        setup(b) {
          b.onResolve({ filter: /\?modulePath$/ }, async (args) => {
            const r = await b.resolve(args.path.slice(0, -SUFFIX.length), { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer })
            if (r.errors.length > 0) return { errors: r.errors }
            nested.push(r.path)
            return { path: await shimFor(r.path), namespace: 'taskloop-module-path' }
          })
          b.onLoad({ filter: /.*/, namespace: 'taskloop-module-path' }, (args) => ({ contents: `export default ${JSON.stringify(args.path)}`, loader: 'js' }))
        },
      },
    ],
  })
  const inputs = {}
  for (const f of Object.keys(result.metafile.inputs)) {
    if (f.startsWith('taskloop-module-path:')) continue // nested entries: checked on their own
    const abs = path.resolve(root, f)
    inputs[abs] = signature(abs)
  }
  writeAtomic(out, result.outputFiles[0].text)
  // The bundle itself is an input too: replaced or removed, it is built again.
  inputs[out] = signature(out)
  writeAtomic(record, JSON.stringify({ inputs, nested }))
  return out
}
