// The built Electron shell in plain Node, with fakes for `electron`: the preload's bridge, and the
// main process (out/main/index.js, through tests/e2e/fake-electron) with the real engine thread:
// the window's settings, the CSP header, IPC validation and sender checks, the quit sequence on
// signals. electron.spec.ts covers the same in real Electron where its binary exists.
import { expect, test } from '@playwright/test'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { INVOKE, PUSH, type IpcResult } from '../../common/ipc'
import { PRODUCTION_CSP } from '../../main/csp'
import type { EngineEvent, ShutdownStatus } from '../../common/types'

const root = path.resolve(import.meta.dirname, '../..')

type Report =
  | { window: { options: { webPreferences: Record<string, unknown> }; loaded: string } }
  | { header: Record<string, string[]> }
  | { push: string; args: unknown[] }
  | { reply: number; value: unknown }
  | { exit: number }
  | { error: string }

class Shell {
  readonly reports: Report[] = []
  readonly exited: Promise<number | string | null>
  private nextId = 0
  private waiters: Array<() => void> = []
  output = ''

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Report) => {
      this.reports.push(m)
      for (const w of this.waiters.splice(0)) w()
    })
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()))
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)))
  }

  /** The first report that matches, waiting for it (at most 20 s). */
  async next<T extends Report>(match: (r: Report) => r is T, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.reports.find(match)
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no such report within ${timeoutMs} ms; output:\n${this.output}`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }
  }

  async invoke<T>(channel: string, args: unknown[] = [], from: { frame?: 'main' | 'sub'; url?: string } = {}): Promise<IpcResult<T>> {
    const id = ++this.nextId
    this.child.send({ invoke: channel, args, id, ...from })
    const r = await this.next((x): x is { reply: number; value: unknown } => 'reply' in x && x.reply === id)
    return r.value as IpcResult<T>
  }

  shutdownStatuses(): ShutdownStatus[] {
    return this.reports.flatMap((r) =>
      'push' in r && r.push === PUSH.event && (r.args[0] as EngineEvent).shutdown ? [(r.args[0] as EngineEvent).shutdown!] : [],
    )
  }
}

test('the preload exposes one function per operation and nothing else, each on its declared channel', async () => {
  // Run the built preload (CommonJS, as Electron's sandbox loads it) with a recording `electron`.
  const exposed: Record<string, Record<string, (...args: unknown[]) => unknown>> = {}
  const invoked: unknown[][] = []
  const listeners = new Map<string, Set<(...args: unknown[]) => void>>()
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: (typeof exposed)[string]) => (exposed[key] = api) },
    ipcRenderer: {
      invoke: async (...args: unknown[]) => (invoked.push(args), { ok: true, value: null }),
      on: (channel: string, fn: (...args: unknown[]) => void) => listeners.set(channel, (listeners.get(channel) ?? new Set()).add(fn)),
      removeListener: (channel: string, fn: (...args: unknown[]) => void) => listeners.get(channel)?.delete(fn),
    },
  }
  const code = readFileSync(path.join(root, 'out/preload/index.cjs'), 'utf8')
  const modules: Record<string, unknown> = { electron }
  new Function('require', code)((name: string) => {
    if (!(name in modules)) throw new Error(`a sandboxed preload cannot require ${name}`)
    return modules[name]
  })

  expect(Object.keys(exposed)).toEqual(['taskloop'])
  const bridge = exposed['taskloop']!
  expect(Object.keys(bridge).sort()).toEqual(
    ['batch', 'cancel', 'cancelAll', 'forceShutdown', 'get', 'history', 'list', 'onEvent', 'pause', 'quit', 'resume', 'retry', 'setGroupLimit', 'setLimits', 'snapshot', 'stats', 'submit', 'watchLog'],
  )
  await bridge['submit']!({ job: 'sleep' })
  await bridge['cancel']!('t1')
  await bridge['cancelAll']!()
  await bridge['setLimits']!({ thread: 2 })
  expect(invoked).toEqual([[INVOKE.submit, { job: 'sleep' }], [INVOKE.cancel, 't1'], [INVOKE.cancelAll], [INVOKE.setLimits, { thread: 2 }]])

  const events: unknown[] = []
  const stopEvents = bridge['onEvent']!((e: unknown) => events.push(e)) as () => void
  for (const fn of listeners.get(PUSH.event)!) fn({}, { type: 'batch', seq: 1 })
  stopEvents()
  expect(events).toEqual([{ type: 'batch', seq: 1 }])
  expect(listeners.get(PUSH.event)!.size).toBe(0)

  const lines: unknown[] = []
  const stopLog = bridge['watchLog']!('t1', (l: unknown) => lines.push(l)) as () => void
  for (const fn of listeners.get(PUSH.log)!) {
    fn({}, 't2', ['not mine'])
    fn({}, 't1', ['mine'])
  }
  stopLog()
  expect(lines).toEqual([['mine']])
  expect(invoked.slice(-2)).toEqual([[INVOKE.watchLog, 't1'], [INVOKE.unwatchLog, 't1']])
})

test.describe('main process', () => {
  let shell: Shell
  let dataDir: string

  test.beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-shell-'))
    const child = fork('out/main/index.js', [], {
      cwd: root,
      execArgv: ['--import', './tests/e2e/fake-electron/register.mjs'],
      env: { ...process.env, TASKLOOP_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    shell = new Shell(child)
    await shell.next((r): r is Extract<Report, { window: unknown }> => 'window' in r)
  })

  test.afterEach(async () => {
    if (shell.child.exitCode === null && shell.child.signalCode === null) shell.child.kill('SIGKILL')
    await shell.exited
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('one isolated, sandboxed window on our index.html, with the CSP header', async () => {
    const win = await shell.next((r): r is Extract<Report, { window: unknown }> => 'window' in r)
    expect(win.window.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    })
    expect(win.window.options.webPreferences['preload']).toBe(path.join(root, 'out/preload/index.cjs'))
    expect(win.window.loaded).toBe(`file://${path.join(root, 'out/renderer/index.html')}`)
    const header = await shell.next((r): r is Extract<Report, { header: unknown }> => 'header' in r)
    expect(header.header['Content-Security-Policy']).toEqual([PRODUCTION_CSP])
  })

  test('IPC: validated payloads reach the engine, bad ones are refused naming the field, strangers are refused', async () => {
    const ok = await shell.invoke<{ ids: string[] }>(INVOKE.submit, [{ job: 'sleep', params: { ms: 10 } }])
    expect(ok.ok && ok.value.ids).toHaveLength(1)
    const bad = await shell.invoke(INVOKE.submit, [{ job: 'sleep', params: { ms: 10 }, timeoutMs: -1 }])
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid', path: 'timeoutMs' } })
    const badId = await shell.invoke(INVOKE.cancel, [{ id: 'x' }])
    expect(badId).toMatchObject({ ok: false, error: { code: 'invalid', path: 'id' } })
    const notFound = await shell.invoke(INVOKE.cancel, ['no-such-task'])
    expect(notFound).toMatchObject({ ok: false, error: { code: 'not-found' } })

    const fromSubframe = await shell.invoke(INVOKE.snapshot, [], { frame: 'sub' })
    expect(fromSubframe).toMatchObject({ ok: false, error: { code: 'invalid', path: 'sender' } })
    const fromElsewhere = await shell.invoke(INVOKE.snapshot, [], { url: 'https://example.com/' })
    expect(fromElsewhere).toMatchObject({ ok: false, error: { code: 'invalid', path: 'sender' } })

    // Engine batches are pushed to the window.
    await shell.next((r): r is Extract<Report, { push: string }> => 'push' in r && r.push === PUSH.event)
  })

  test('SIGINT drains (the window sees the shutdown status) and exits 130; a second SIGINT forces at once', async () => {
    const stubborn = { name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true }, killGraceMs: 60_000 }
    await shell.invoke(INVOKE.submit, [stubborn])
    const started = Date.now()
    shell.child.kill('SIGINT')
    await expect.poll(() => shell.shutdownStatuses().length, { timeout: 10_000 }).toBeGreaterThan(0)
    expect(shell.shutdownStatuses()[0]!.draining.map((t) => t.name)).toContain('stubborn')
    shell.child.kill('SIGINT')
    expect(await shell.exited).toBe(130)
    // The second Ctrl+C did not wait for the 5 s grace.
    expect(Date.now() - started).toBeLessThan(4500)
  })

  test('SIGTERM with a job that ignores cancel: forced after the grace, exit 143', async () => {
    await shell.invoke(INVOKE.submit, [{ name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true } }])
    shell.child.kill('SIGTERM')
    expect(await shell.exited).toBe(143)
    const last = shell.shutdownStatuses().at(-1)
    expect(last?.phase).not.toBe('draining')
  })

  test('closing the last window quits through the same sequence', async () => {
    shell.child.send({ closeWindow: true })
    expect(await shell.exited).toBe(0)
  })

  test("the UI's Quit runs the shutdown sequence", async () => {
    const r = await shell.invoke(INVOKE.quit)
    expect(r.ok).toBe(true)
    expect(await shell.exited).toBe(0)
  })
})
