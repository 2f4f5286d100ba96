// The Electron shell: one window, IPC to the engine thread, and the quit sequence.
// Everything that does work lives in engine/ (which never imports electron).
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { app, BrowserWindow, dialog, session } from 'electron'
import { STORE_EXIT_CODES, StoreError } from '../engine/data-folder'
import { startEngineThread } from '../engine/thread/client'
import { readSettings } from './settings'
import type { EngineHandle } from '../engine/handle'
import { DEV_CSP, PRODUCTION_CSP } from './csp'
import { registerIpc } from './ipc'

/** How long running tasks get to stop cooperatively at quit before the engine forces them. */
const SHUTDOWN_GRACE_MS = 5000
/** If the engine's shutdown itself hangs, exit anyway this long after the grace. */
const WATCHDOG_MARGIN_MS = 5000

const here = import.meta.dirname
const preloadPath = path.join(here, '../preload/index.cjs')
const indexHtml = path.join(here, '../renderer/index.html')
// Set by `electron-vite dev`: the renderer then comes from the dev server.
const devUrl = process.env['ELECTRON_RENDERER_URL']

let engine: EngineHandle | undefined
let disposeIpc: (() => void) | undefined
let exiting = false

function createWindow(api: EngineHandle): void {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 720,
    minHeight: 480,
    title: 'Taskloop',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  })
  win.once('ready-to-show', () => win.show())
  disposeIpc = registerIpc(api, win, { fileUrl: pathToFileURL(indexHtml).href, devOrigin: devUrl })
  win.on('closed', () => {
    disposeIpc?.()
    disposeIpc = undefined
  })
  if (devUrl) void win.loadURL(devUrl)
  else void win.loadFile(indexHtml)
}

/** The one way out: engine shutdown (the UI shows it draining), then exit; a watchdog makes sure. */
function shutdownAndExit(code: number): void {
  if (exiting) return
  exiting = true
  setTimeout(() => {
    console.error('taskloop: shutdown did not finish in time, exiting anyway')
    app.exit(code)
  }, SHUTDOWN_GRACE_MS + WATCHDOG_MARGIN_MS).unref()
  void (async () => {
    try {
      await engine?.shutdown()
    } catch (e) {
      console.error('taskloop: shutdown failed:', e)
    }
    disposeIpc?.()
    app.exit(code)
  })()
}

// A repeated signal while shutting down means "force it now", like a second Ctrl+C.
function onSignal(code: number): void {
  if (exiting) engine?.escalate()
  else shutdownAndExit(code)
}
process.on('SIGINT', () => onSignal(130))
process.on('SIGTERM', () => onSignal(143))
process.on('SIGHUP', () => onSignal(129))

app.on('before-quit', (event) => {
  // Every quit request lands here; the sequence runs once and ends in app.exit(), which skips this event.
  event.preventDefault()
  shutdownAndExit(0)
})
app.on('window-all-closed', () => app.quit())

// Nothing in the window may navigate away, open windows or embed other pages.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
})

async function main(): Promise<void> {
  await app.whenReady()
  const csp = devUrl ? DEV_CSP : PRODUCTION_CSP
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))

  const settings = readSettings(path.join(app.getPath('userData'), 'settings.json'))
  if (settings.problem) console.error(`Taskloop settings: ${settings.problem}`)
  // Same switches as `taskloop serve`: the only way to run without a store, and the way past a broken one.
  const noStore = process.argv.includes('--no-store')
  engine = await startEngineThread({
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
    jobsDirs: settings.jobsDirs,
    ...(noStore
      ? {}
      : {
          // TASKLOOP_DATA_DIR lets tests and side-by-side runs keep their own task store.
          dataDir: process.env['TASKLOOP_DATA_DIR'] || path.join(app.getPath('userData'), 'tasks'),
          owner: 'the Taskloop app',
          resetStore: process.argv.includes('--reset-store'),
        }),
  })
  engine.onQuitRequested(() => app.quit())
  createWindow(engine)
}

main().catch((e: unknown) => {
  // No store, no start: one line naming the folder and the reason, and the same exit code as the CLI's.
  const refused = StoreError.from(e)
  if (refused) {
    console.error(`taskloop: ${refused.message}`)
    dialog.showErrorBox('Taskloop could not open its task store', refused.message)
    app.exit(STORE_EXIT_CODES[refused.problem])
    return
  }
  dialog.showErrorBox('Taskloop could not start', e instanceof Error ? (e.stack ?? e.message) : String(e))
  app.exit(1)
})
