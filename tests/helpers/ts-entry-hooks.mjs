// Node module hooks: `import p from './x?modulePath'` → the path of ./x.ts compiled to one module (see ts-entry.mjs).
import { fileURLToPath } from 'node:url'
import { shimFor } from './ts-entry.mjs'

const SUFFIX = '?modulePath'
const SCHEME = 'taskloop-module-path:'

export async function resolve(specifier, context, nextResolve) {
  if (!specifier.endsWith(SUFFIX)) return nextResolve(specifier, context)
  const target = await nextResolve(specifier.slice(0, -SUFFIX.length), context)
  return { url: SCHEME + target.url, shortCircuit: true }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith(SCHEME)) return nextLoad(url, context)
  const file = await shimFor(fileURLToPath(url.slice(SCHEME.length)))
  return { format: 'module', source: `export default ${JSON.stringify(file)}`, shortCircuit: true }
}
