// One build for the three places Taskloop's code runs: Electron main (plus the `taskloop` CLI,
// which shares the engine), the sandboxed preload, and the renderer (also served by `taskloop serve`).
import { dirname, posix, resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import { DEV_CSP, PRODUCTION_CSP } from './main/csp'

const root = import.meta.dirname

/** The dev server injects styles inline and talks HMR over ws: relax the page's CSP only there. */
function devCsp(): Plugin {
  return {
    name: 'taskloop:dev-csp',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace(PRODUCTION_CSP, DEV_CSP),
  }
}

/** Fails the build when index.html's meta CSP drifts from the one main sends as a header. */
function checkCsp(): Plugin {
  return {
    name: 'taskloop:check-csp',
    apply: 'build',
    transformIndexHtml(html) {
      if (!html.includes(`content="${PRODUCTION_CSP}"`)) throw new Error('renderer/index.html: CSP meta differs from main/csp.ts')
      return html
    },
  }
}

const NESTED_RE = /__TASKLOOP_MODULE_PATH__(\w+)__/g

/**
 * `?modulePath` inside a `?modulePath` entry (engine thread → thread worker, process child).
 * electron-vite bundles such an entry without its own modulePath plugin, so the nested import
 * would fail; here it becomes another chunk of that same bundle, addressed relative to the chunk
 * that imports it. At the top level electron-vite's plugin runs first and this one never sees
 * the import.
 */
function nestedModulePath(): Plugin {
  return {
    name: 'taskloop:nested-module-path',
    apply: 'build',
    enforce: 'pre',
    load(id) {
      if (!id.endsWith('?modulePath')) return null
      const ref = this.emitFile({ type: 'chunk', id: id.slice(0, -'?modulePath'.length) })
      return `import { join } from 'node:path'\nexport default join(import.meta.dirname, __TASKLOOP_MODULE_PATH__${ref}__)`
    },
    renderChunk(code, chunk) {
      if (!code.includes('__TASKLOOP_MODULE_PATH__')) return null
      return code.replace(NESTED_RE, (_m, ref: string) =>
        JSON.stringify(posix.relative(dirname(chunk.fileName), this.getFileName(ref)) || '.'),
      )
    },
  }
}

const SHIM_REQUIRE = 'const require = __shims_module__.createRequire(import.meta.url);'
const OWN_REQUIRE_RE = /^(?:var|let|const) require = (?:[\w$]+\.)?createRequire\(import\.meta\.url\);$/gm

/**
 * electron-vite's ESM shim declares `const require = createRequire(import.meta.url)` in any chunk
 * that calls require(); a module that declares its own identical `require` (engine/store.ts)
 * then fails with "Identifier 'require' has already been declared". Both are the same function
 * of the same chunk, so the module's copy is dropped. Runs after the shim (user plugins come last).
 */
function dedupeRequireShim(): Plugin {
  return {
    name: 'taskloop:dedupe-require-shim',
    apply: 'build',
    enforce: 'post',
    renderChunk(code) {
      if (!code.includes(SHIM_REQUIRE)) return null
      const fixed = code.replace(OWN_REQUIRE_RE, (line) => (line === SHIM_REQUIRE ? line : '/* require: the CommonJS shim above */'))
      return fixed === code ? null : { code: fixed, map: null }
    },
  }
}

export default defineConfig({
  main: {
    plugins: [nestedModulePath(), dedupeRequireShim()],
    build: {
      outDir: 'out/main',
      rolldownOptions: {
        input: {
          index: resolve(root, 'main/index.ts'),
          cli: resolve(root, 'cli/cli.ts'),
        },
        output: { format: 'es', entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rolldownOptions: {
        input: { index: resolve(root, 'preload/index.ts') },
        // A sandboxed preload is run by Electron's own loader, which only understands CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'renderer'),
    plugins: [vue(), devCsp(), checkCsp()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      // The browser parses every byte before the first rows: minified, the page is ready sooner.
      minify: true,
      rolldownOptions: { input: { index: resolve(root, 'renderer/index.html') } },
    },
  },
})
