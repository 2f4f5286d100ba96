// ESLint 9 flat config. Correctness rules only: formatting is nobody's fight here.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import vueParser from 'vue-eslint-parser'
import globals from 'globals'

/**
 * The layer rules (docs/ARCHITECTURE.md, "Layers"): the top-level folders each folder must not
 * import, and the folders that must not import `electron`. The engine and `common/` run without
 * Electron (in `taskloop serve`, in tests); the renderer reaches the engine only through its API
 * (types from `common/`). tests/unit/lint/layers.test.ts breaks each rule once to prove it fires.
 */
const LAYERS = {
  common: ['main', 'engine', 'cluster', 'server', 'cli', 'preload', 'renderer'],
  engine: ['main', 'cluster', 'server', 'cli', 'preload', 'renderer'],
  cluster: ['main', 'server', 'cli', 'preload', 'renderer'],
  server: ['main', 'cluster', 'cli', 'preload', 'renderer'],
  cli: ['main', 'preload', 'renderer'],
  main: ['server', 'cli', 'preload', 'renderer'],
  preload: ['main', 'engine', 'cluster', 'server', 'cli', 'renderer'],
  renderer: ['main', 'engine', 'cluster', 'server', 'cli', 'preload'],
}
const NO_ELECTRON = ['common', 'engine', 'cluster', 'server', 'cli', 'renderer']
/** The one exception: the Electron shell serves the built renderer with the server's file resolution. */
const ALLOWED = { main: ['server/files'] }

/** One `no-restricted-imports` setting per folder; typescript-eslint's version also checks `import type`. */
function layerRule(folder, except = []) {
  const banned = LAYERS[folder].filter((f) => !except.includes(f))
  const allowed = (ALLOWED[folder] ?? []).filter((a) => banned.includes(a.split('/')[0]))
  const patterns = banned.map((target) => ({
    // A relative path that climbs to the repository root and enters the banned folder (but for an allowed module).
    regex: `^(\\.{1,2}/)+${target}(/(?!(${allowed.map((a) => a.slice(target.length + 1)).join('|') || '$^'})$)|$)`,
    caseSensitive: true,
    message: `${folder}/ must not import ${target}/ (layer rules: docs/ARCHITECTURE.md, "Layers").`,
  }))
  if (NO_ELECTRON.includes(folder)) {
    patterns.push({
      regex: '^electron(/|$)',
      caseSensitive: true,
      message: `${folder}/ must not import electron: it also runs without Electron (docs/ARCHITECTURE.md, "Layers").`,
    })
  }
  return { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] }
}

export default defineConfig(
  {
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', '.taskloop-data/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  // Vue's layout rules (attribute breaks, indentation) are formatting, not correctness.
  vue.configs['no-layout-rules'],
  {
    files: ['**/*.vue'],
    languageOptions: {
      parser: vueParser,
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], sourceType: 'module' },
    },
  },
  {
    // Node side: engine, server, CLI, scripts, tests, benchmarks, configs.
    files: ['main/**', 'engine/**', 'server/**', 'cli/**', 'preload/**', 'scripts/**', 'tests/**', 'bench/**', 'bin/**', '*.config.{js,ts,mjs}'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // The renderer runs in a browser (or Electron's sandboxed renderer); its tests too (happy-dom).
    files: ['renderer/**', 'tests/renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Playwright tests run in Node but their page.evaluate callbacks run in the page.
    files: ['tests/e2e/**'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    // Playwright reads fixtures from the first parameter's pattern: `async ({}, testInfo) =>` is its idiom.
    rules: { 'no-empty-pattern': 'off' },
  },
  ...Object.keys(LAYERS).map((folder) => ({ files: [`${folder}/**`], rules: layerRule(folder) })),
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Job modules and test doubles legitimately take `any`-shaped params; flag it, do not fail on it.
      '@typescript-eslint/no-explicit-any': 'warn',
      // `// @ts-expect-error -- why` is how the configs import untyped .mjs helpers.
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-expect-error': 'allow-with-description' }],
      'vue/attributes-order': 'off',
      // App.vue and single-word component names are fine in an app this size.
      'vue/multi-word-component-names': 'off',
    },
  },
)
