// The Electron shell: one window, IPC to the engine thread, and the quit sequence.
// Everything that does work lives in engine/ (which never imports electron).
import path from 'node:path'
import { app, BrowserWindow, dialog, protocol, session } from 'electron'
import type { Input } from 'electron'
import { SHUTDOWN_GRACE_MS } from '../common/defaults'
import { STORE_EXIT_CODES, StoreError } from '../engine/data-folder'
import { startEngineThread } from '../engine/thread/client'
import { readSettings, withAppSettings, type AppCluster } from './settings'
import type { TaskloopApi } from '../common/api'
import { redactRedisUrl } from '../common/schema'
import type { OnStop } from '../common/types'
import type { EngineHandle } from '../engine/handle'
import { APP_PAGE_URL, registerAppScheme, serveApp } from './app-protocol'
import { DEV_CSP, PRODUCTION_CSP } from './csp'
import { registerIpc } from './ipc'

/** If the engine's shutdown itself hangs, exit anyway this long after the grace. */
const WATCHDOG_MARGIN_MS = 5000

const here = import.meta.dirname
const preloadPath = path.join(here, '../preload/index.cjs')
const rendererDir = path.join(here, '../renderer')
/**
 * A development build (`electron-vite dev`: Vite sets import.meta.env.DEV, and a production build
 * replaces it with false), never a packaged app: only then may the window show something else.
 */
const isDevBuild = import.meta.env.DEV && !app.isPackaged
// Set by `electron-vite dev`: the renderer then comes from the dev server. Anywhere else an
// environment variable must not be able to point the window (and its IPC) at another page.
const devUrl = isDevBuild ? process.env['ELECTRON_RENDERER_URL'] : undefined

/** F12, Ctrl+Shift+I/J/C, Cmd+Alt+I/J/C: DevTools, which a production window does not offer. */
const isDevToolsShortcut = (input: Input): boolean =>
  input.key === 'F12' ||
  (/^[ijc]$/i.test(input.key) && ((input.control && input.shift) || (input.meta && input.alt)))

registerAppScheme(protocol)

/** The engine's client, or the cluster node decorating it (settings.json's `redis`), whose shutdown also leaves the cluster. */
let engine: EngineHandle | undefined
let disposeIpc: (() => void) | undefined
let exiting = false
/** The Quit dialog's choice for pending tasks, read when the quit lands in before-quit. */
let quitPending: OnStop = 'cancel'

function createWindow(api: TaskloopApi): void {
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
      devTools: isDevBuild,
    },
  })
  win.once('ready-to-show', () => win.show())
  disposeIpc = registerIpc(api, win, { pageUrl: APP_PAGE_URL, devOrigin: devUrl })
  win.on('closed', () => {
    disposeIpc?.()
    disposeIpc = undefined
  })
  void win.loadURL(devUrl ?? APP_PAGE_URL)
}

/**
 * The one way out: engine shutdown (the UI shows it draining), then exit; a watchdog makes sure.
 * `pending`: what happens to pending tasks (README "Stopping").
 */
function shutdownAndExit(code: number, pending: OnStop): void {
  if (exiting) return
  exiting = true
  setTimeout(() => {
    console.error('taskloop: shutdown did not finish in time, exiting anyway')
    app.exit(code)
  }, SHUTDOWN_GRACE_MS + WATCHDOG_MARGIN_MS).unref()
  void (async () => {
    try {
      await engine?.shutdown({ pending })
    } catch (e) {
      console.error('taskloop: shutdown failed:', e)
    }
    disposeIpc?.()
    app.exit(code)
  })()
}

// A repeated signal while shutting down means "force it now", like a second Ctrl+C.
// SIGTERM (a service manager, a logout) and SIGHUP keep the queue for the next start; Ctrl+C cancels it.
function onSignal(code: number, pending: OnStop): void {
  if (exiting) engine?.escalate()
  else shutdownAndExit(code, pending)
}
process.on('SIGINT', () => onSignal(130, 'cancel'))
process.on('SIGTERM', () => onSignal(143, 'keep'))
process.on('SIGHUP', () => onSignal(129, 'keep'))

app.on('before-quit', (event) => {
  // Every quit request lands here; the sequence runs once and ends in app.exit(), which skips this event.
  event.preventDefault()
  shutdownAndExit(0, quitPending)
})
app.on('window-all-closed', () => app.quit())

// Nothing in the window may navigate away, open windows or embed other pages.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
  if (!isDevBuild) {
    contents.on('before-input-event', (event, input) => {
      if (isDevToolsShortcut(input)) event.preventDefault()
    })
  }
})

async function main(): Promise<void> {
  await app.whenReady()
  const csp = devUrl ? DEV_CSP : PRODUCTION_CSP
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  // No camera, notifications, clipboard reads...: refused when asked, and reported absent when checked.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  serveApp(protocol, rendererDir, csp)

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
  const local = engine
  const joinProblem = settings.cluster ? await joinAppCluster(local, settings.cluster) : null
  engine.onQuitRequested((options) => {
    quitPending = options.pending ?? 'cancel'
    app.quit()
  })
  createWindow(withAppSettings(engine, path.join(app.getPath('userData'), 'settings.json'), joinProblem))
}

/**
 * Joins the cluster of settings.json, as `taskloop serve --redis` does; bullmq and ioredis load
 * only then. A failure leaves the app running alone and is shown with the settings. Returns it.
 */
async function joinAppCluster(local: EngineHandle, cluster: AppCluster): Promise<string | null> {
  const where = redactRedisUrl(cluster.redis)
  try {
    const { joinCluster } = await import('../cluster/index')
    const node = await joinCluster(local, {
      redis: cluster.redis,
      ...(cluster.nodeId ? { nodeId: cluster.nodeId } : {}),
      ...(cluster.queues.length > 0 ? { queues: cluster.queues } : {}),
    })
    engine = node
    console.error(`Taskloop: cluster node ${node.nodeId} on ${where}`)
    return null
  } catch (e) {
    // The URL is in the settings; its password must not reach the log through an error message.
    const message = (e instanceof Error ? e.message : String(e)).split(cluster.redis).join(where)
    console.error(`Taskloop: could not join the cluster at ${where}: ${message}; running alone`)
    return `could not join the cluster at ${where}: ${message}`
  }
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
