// Just enough of Electron's main-process API to run out/main/index.js, recording what the shell
// does and letting a test drive it over the Node IPC channel (process.send / 'message'):
//   test → shell: {invoke, args, frame?: 'main' | 'sub', url?}  |  {closeWindow: true}  |  {quit: true}
//                 {id, fetchApp: url}  |  {id, permission: name}  |  {id, input: {key, control, shift, meta, alt}}
//   shell → test: {window: {options, loaded}} | {header} | {push, args} | {reply, value} | {exit}
//                 | {privileged: schemes}
import { EventEmitter } from 'node:events'
import { pathToFileURL } from 'node:url'

const report = (message) => process.send?.(message)
const handlers = new Map()
const windows = []
/** protocol.handle registrations, by scheme. */
const protocols = new Map()
const permissionHandlers = { check: null, request: null }

class WebContents extends EventEmitter {
  mainFrame = { url: '' }
  destroyed = false
  send(channel, ...args) {
    report({ push: channel, args })
  }
  isDestroyed() {
    return this.destroyed
  }
  setWindowOpenHandler(fn) {
    this.windowOpenHandler = fn
  }
}

export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super()
    this.options = options
    this.webContents = new WebContents()
    this.destroyed = false
    windows.push(this)
    app.emit('web-contents-created', {}, this.webContents)
  }
  static getAllWindows() {
    return windows.filter((w) => !w.destroyed)
  }
  async loadFile(file) {
    this.webContents.mainFrame.url = pathToFileURL(file).href
    report({ window: { options: this.options, loaded: this.webContents.mainFrame.url } })
    this.emit('ready-to-show')
  }
  async loadURL(url) {
    this.webContents.mainFrame.url = url
    report({ window: { options: this.options, loaded: url } })
    this.emit('ready-to-show')
  }
  show() {}
  isDestroyed() {
    return this.destroyed
  }
  close() {
    this.destroyed = true
    this.webContents.destroyed = true
    this.emit('closed')
    if (BrowserWindow.getAllWindows().length === 0) app.emit('window-all-closed')
  }
}

class App extends EventEmitter {
  // As under `electron .` from the source tree: only the build flag tells development from production.
  isPackaged = false
  whenReady() {
    return Promise.resolve()
  }
  getPath(name) {
    // A test may give the app a userData folder of its own (its settings.json).
    if (name === 'userData' && process.env.FAKE_ELECTRON_USER_DATA) return process.env.FAKE_ELECTRON_USER_DATA
    return `/tmp/taskloop-fake-electron/${name}`
  }
  quit() {
    let prevented = false
    this.emit('before-quit', { preventDefault: () => (prevented = true) })
    if (!prevented) this.exit(0)
  }
  exit(code = 0) {
    report({ exit: code })
    // Let the report reach the test before the process goes.
    setTimeout(() => process.exit(code), 50)
  }
}
export const app = new App()

export const ipcMain = {
  handle(channel, fn) {
    if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`)
    handlers.set(channel, fn)
  },
  removeHandler(channel) {
    handlers.delete(channel)
  },
}

export const session = {
  defaultSession: {
    webRequest: {
      onHeadersReceived(fn) {
        fn({ responseHeaders: { 'Content-Type': ['text/html'] } }, (result) => report({ header: result.responseHeaders }))
      },
    },
    setPermissionRequestHandler(fn) {
      permissionHandlers.request = fn
    },
    setPermissionCheckHandler(fn) {
      permissionHandlers.check = fn
    },
  },
}

export const protocol = {
  registerSchemesAsPrivileged(schemes) {
    report({ privileged: schemes })
  },
  handle(scheme, fn) {
    protocols.set(scheme, fn)
  },
}

export const dialog = {
  showErrorBox(title, content) {
    report({ error: `${title}: ${content}` })
  },
}

/** What the page would get for a URL of a custom scheme, as Electron would ask the handler. */
async function fetchApp(url) {
  const handler = protocols.get(new URL(url).protocol.slice(0, -1))
  if (!handler) return { noHandler: url }
  const res = await handler(new Request(url))
  return { status: res.status, type: res.headers.get('content-type'), csp: res.headers.get('content-security-policy'), body: await res.text() }
}

/** What the session's handlers answer for a permission, checked and requested, from our window. */
async function permission(name) {
  const contents = windows[0]?.webContents
  const check = permissionHandlers.check ? permissionHandlers.check(contents, name, 'app://taskloop', {}) : 'no handler'
  const request = permissionHandlers.request
    ? await new Promise((resolve) => permissionHandlers.request(contents, name, resolve, {}))
    : 'no handler'
  return { check, request }
}

/** A key press in the window: whether main's before-input-event listeners swallowed it. */
function input(keys) {
  let prevented = false
  windows[0]?.webContents.emit('before-input-event', { preventDefault: () => (prevented = true) }, { type: 'keyDown', control: false, shift: false, meta: false, alt: false, ...keys })
  return { prevented }
}

process.on('message', async (m) => {
  if (m.fetchApp) return report({ reply: m.id, value: await fetchApp(m.fetchApp) })
  if (m.permission) return report({ reply: m.id, value: await permission(m.permission) })
  if (m.input) return report({ reply: m.id, value: input(m.input) })
  if (m.closeWindow) return windows[0]?.close()
  if (m.quit) return app.quit()
  if (m.invoke) {
    const win = windows[0]
    const fn = handlers.get(m.invoke)
    if (!fn) return report({ reply: m.id, value: { noHandler: m.invoke } })
    const frame = m.frame === 'sub' ? { url: m.url ?? win.webContents.mainFrame.url } : win.webContents.mainFrame
    if (m.url && m.frame !== 'sub') frame.url = m.url
    const value = await fn({ sender: win.webContents, senderFrame: frame }, ...(m.args ?? []))
    report({ reply: m.id, value })
  }
})

export default { app, BrowserWindow, ipcMain, session, dialog, protocol }
