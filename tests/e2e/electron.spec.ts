// The Electron app itself: the same flow as in the browser, the window's security settings as
// Electron reports them, and Ctrl+C (SIGINT) of the app process.
// Needs the Electron binary, which downloads from GitHub at install time; where it is missing
// these tests are skipped with the reason printed, never silently.
import { _electron, expect, test, type ElectronApplication, type Page } from '@playwright/test'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { launch, row, screenshot, twentyTasks } from './ui'

// The page's globals, for page.evaluate (this is the Node tsconfig, without the DOM lib).
declare const window: { taskloop?: object }
declare const navigator: { permissions: { query(d: { name: string }): Promise<{ state: string }> } }

const root = path.resolve(import.meta.dirname, '../..')

/** The binary's path the way the electron package finds it, without require('electron') (that would try to download). */
function electronBinary(): string | null {
  const dir = path.join(root, 'node_modules/electron')
  const pathFile = path.join(dir, 'path.txt')
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : process.platform === 'linux' ? 'electron' : null
  const override = process.env['ELECTRON_OVERRIDE_DIST_PATH']
  const candidates = [
    ...(override && relative ? [path.join(override, relative)] : []),
    ...(existsSync(pathFile) && relative ? [path.join(dir, 'dist', relative)] : []),
  ]
  return candidates.find((c) => existsSync(c)) ?? null
}

const binary = electronBinary()
const SKIP_REASON =
  'Electron binary not installed here (it downloads from GitHub, unreachable): run `npx install-electron` ' +
  '(or set ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron 45) to run these tests'
if (!binary) console.log(`electron.spec.ts: skipped: ${SKIP_REASON}`)

test.describe('Electron app', () => {
  test.skip(!binary, SKIP_REASON)

  let app: ElectronApplication
  let page: Page
  let dataDir: string

  test.beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-e2e-'))
    app = await _electron.launch({
      executablePath: binary!,
      args: ['out/main/index.js', ...(process.platform === 'linux' ? ['--no-sandbox', '--disable-gpu'] : [])],
      cwd: root,
      // Set as an attacker's environment could: the built app must not load the dev-server URL.
      env: { ...process.env, TASKLOOP_DATA_DIR: dataDir, ELECTRON_RENDERER_URL: 'http://127.0.0.1:9/evil.html' },
    })
    page = await app.firstWindow()
    await expect(page.getByLabel('pending count', { exact: true })).toHaveText('0')
  })

  test.afterEach(async () => {
    if (app.process().exitCode === null) await app.close().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('the window is isolated and sandboxed, and the page sees only window.taskloop', async () => {
    // getLastWebPreferences() is what Electron applied to the page (undocumented, hence not typed).
    const prefs = await app.evaluate(({ BrowserWindow }) => {
      const contents = BrowserWindow.getAllWindows()[0]!.webContents as unknown as {
        getLastWebPreferences(): Electron.WebPreferences | null
      }
      const p = contents.getLastWebPreferences()
      if (!p) throw new Error('getLastWebPreferences() returned nothing')
      return { contextIsolation: p.contextIsolation, sandbox: p.sandbox, nodeIntegration: p.nodeIntegration, webSecurity: p.webSecurity }
    })
    expect(prefs).toEqual({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true })
    const page_ = await page.evaluate(() => ({
      bridge: Object.keys(window.taskloop ?? {}).sort(),
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
    }))
    expect(page_).toEqual({
      bridge: ['batch', 'cancel', 'cancelAll', 'cluster', 'clusterSettings', 'forceShutdown', 'get', 'history', 'list', 'onEvent', 'pause', 'quit', 'resume', 'retry', 'setGroupLimit', 'setLimits', 'snapshot', 'stats', 'submit', 'watchLog'],
      require: 'undefined',
      process: 'undefined',
    })
  })

  test('the page is app://taskloop (never the dev URL), without DevTools, refused every permission, and app:// stays in out/renderer', async () => {
    expect(page.url()).toBe('app://taskloop/index.html')
    const devTools = await app.evaluate(({ BrowserWindow }) => {
      const contents = BrowserWindow.getAllWindows()[0]!.webContents
      contents.openDevTools()
      return contents.isDevToolsOpened()
    })
    expect(devTools).toBe(false)
    const states = await page.evaluate(async () =>
      Promise.all(['notifications', 'geolocation', 'camera'].map(async (name) => (await navigator.permissions.query({ name })).state)),
    )
    expect(states).toEqual(['denied', 'denied', 'denied'])
    const statuses = await page.evaluate(async () =>
      Promise.all(['app://taskloop/index.html', 'app://taskloop/..%2fmain%2findex.js', 'app://taskloop/%2e%2e%2f%2e%2e%2fpackage.json'].map(async (u) => (await fetch(u)).status)),
    )
    expect(statuses).toEqual([200, 404, 404])
  })

  test('20 tasks on every executor: live states, cancel one, cancel all, counters add up', async () => {
    await twentyTasks(page, 'electron')
  })

  test('Ctrl+C shows the shutdown overlay, drains, and exits', async () => {
    await launch(page, { name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true }, executor: 'loop', count: 1 })
    await expect(row(page, 'stubborn')).toHaveAttribute('data-state', 'running')
    const exited = new Promise<number | null>((resolve) => app.process().once('exit', (code) => resolve(code)))
    app.process().kill('SIGINT')
    const dialog = page.getByRole('dialog', { name: /Shutting down|Forcing|Shut down/ })
    await expect(dialog).toBeVisible()
    await expect(dialog).toContainText('stubborn')
    await expect(dialog).toContainText('Press Ctrl+C again to force now')
    await screenshot(page, 'electron-shutdown')
    // Within the 5 s grace plus the watchdog's margin.
    expect(await exited).toBe(130)
  })
})
