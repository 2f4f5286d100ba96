import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { defineConfig, type Plugin } from 'vitest/config'
import vue from '@vitejs/plugin-vue'
// @ts-expect-error -- plain .mjs helper shared with the Node hooks, no types
import { shimFor } from './tests/helpers/ts-entry.mjs'

const root = path.dirname(fileURLToPath(import.meta.url))

/** `?modulePath` under Vitest: the path of the TypeScript entry compiled to one module (tests/helpers/ts-entry.mjs). */
function modulePathForTests(): Plugin {
  return {
    name: 'taskloop:module-path-for-tests',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (!source.endsWith('?modulePath')) return null
      const resolved = await this.resolve(source.slice(0, -'?modulePath'.length), importer, { skipSelf: true })
      return resolved ? `\0modulePath:${resolved.id}` : null
    },
    async load(id) {
      if (!id.startsWith('\0modulePath:')) return null
      return `export default ${JSON.stringify(await shimFor(id.slice('\0modulePath:'.length)))}`
    },
  }
}

export default defineConfig({
  plugins: [modulePathForTests(), vue()],
  test: {
    root,
    include: [
      'tests/unit/**/*.test.ts',
      'tests/integration/**/*.test.ts',
      'tests/renderer/**/*.test.ts',
      'tests/fuzz/**/*.test.ts',
      'tests/faults/**/*.test.ts',
    ],
    pool: 'forks',
    // The CLIs and servers tests start run from out/, built first when it is stale.
    globalSetup: ['tests/helpers/build-out.ts'],
    // CLIs started by a test file keep their data in a throwaway folder of that file's own.
    setupFiles: ['tests/helpers/data-home.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two files at a time, one per core: every test must hold under load anyway (CI runs beside
    // other work), and the suite takes far less time than one file after another.
    maxWorkers: 2,
  },
})
