// ESLint 9 flat config. Correctness rules only: formatting is nobody's fight here.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'
import vueParser from 'vue-eslint-parser'
import globals from 'globals'

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
