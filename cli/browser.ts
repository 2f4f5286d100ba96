// `taskloop serve --open`: the UI in a Chromium/Chrome app window (no tabs, no address bar),
// with a throwaway profile, closed together with the server. The browser is given a private
// redirect file, never the URL itself: a command line is visible to every user (`ps`).
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const ABSOLUTE_CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
]
const PATH_CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'microsoft-edge', 'brave-browser']

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export function findBrowser(): string | null {
  const fromEnv = process.env.TASKLOOP_BROWSER
  if (fromEnv) return executable(fromEnv) ? fromEnv : null
  for (const file of ABSOLUTE_CANDIDATES) if (executable(file)) return file
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)
  for (const name of PATH_CANDIDATES) {
    for (const dir of dirs) if (executable(path.join(dir, name))) return path.join(dir, name)
  }
  return null
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * An HTML file that sends the browser on to `url`, readable by this user only (folder 0700, file
 * 0600), as Jupyter does. Returns its path and how to remove it.
 */
export async function writeRedirectFile(url: string): Promise<{ file: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-open-'))
  const file = path.join(dir, 'open.html')
  const href = escapeHtml(url)
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${href}"><title>Taskloop</title></head>
<body><p>Opening <a href="${href}">Taskloop</a>…</p></body></html>
`
  await writeFile(file, html, { mode: 0o600, flag: 'wx' })
  return { file, remove: () => rm(dir, { recursive: true, force: true }) }
}

export interface AppWindow {
  /** Resolves when the browser exits by itself (the user closed the window). */
  readonly exited: Promise<void>
  close(): Promise<void>
}

export async function openAppWindow(browser: string, url: string): Promise<AppWindow> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'taskloop-browser-'))
  const redirect = await writeRedirectFile(url)
  const args = [
    `--app=${pathToFileURL(redirect.file).href}`,
    `--user-data-dir=${profile}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Its crash handler would outlive the window in a session of its own.
    '--disable-crash-reporter',
    '--disable-breakpad',
  ]
  // Chromium refuses to start as root with its sandbox; the window only shows our own local page.
  if (process.getuid?.() === 0) args.push('--no-sandbox')
  // Its own process group: Ctrl+C in the terminal reaches us, not it, and close() kills all of its helpers.
  const child = spawn(browser, args, { detached: true, stdio: 'ignore' })
  let running = true
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      running = false
      resolve()
    }
    child.once('exit', done)
    child.once('error', done)
  })

  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal)
    } catch {
      // already gone
    }
  }
  let closing: Promise<void> | undefined
  return {
    exited,
    close() {
      closing ??= (async () => {
        if (running) {
          killGroup('SIGTERM')
          const timer = setTimeout(() => killGroup('SIGKILL'), 2000)
          await exited
          clearTimeout(timer)
        }
        // Helpers (GPU, renderers) share the group and may outlive the main process by a moment.
        killGroup('SIGKILL')
        await rm(profile, { recursive: true, force: true }).catch(() => {})
        await redirect.remove().catch(() => {})
      })()
      return closing
    },
  }
}
