// End-to-end tests: the built UI in Debian's Chromium against the real headless server, and the
// Electron app where its binary exists. Browsers are never downloaded (`npx playwright install`).
import { defineConfig } from '@playwright/test'

export default defineConfig({
  testDir: 'tests/e2e',
  globalSetup: './tests/helpers/build-out.ts',
  outputDir: 'test-results/playwright',
  // Two spec files at a time, one per core, each test with its own server: every test must hold
  // under load anyway (CI runs beside other work). The tests of one file run in order.
  workers: 2,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['json', { outputFile: 'test-results/playwright.json' }]],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    launchOptions: {
      executablePath: process.env['TASKLOOP_CHROMIUM'] || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
})
