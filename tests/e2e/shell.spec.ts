// The built Electron shell in plain Node, with fakes for `electron`: the preload's bridge, and the
// main process (out/main/index.js, through tests/e2e/fake-electron) with the real engine thread:
// the window's settings, its app:// protocol, permissions and DevTools, the CSP header, IPC
// validation and sender checks, the quit sequence on signals. electron.spec.ts covers the same in
// real Electron where its binary exists.
import { expect, test } from '@playwright/test'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { INVOKE, PUSH, type IpcResult } from '../../common/ipc'
import { PRODUCTION_CSP } from '../../main/csp'
import type { ClusterInfo, ClusterSettings, EngineEvent, ShutdownStatus } from '../../common/types'
import { freePort, redisMissing, REDIS_SKIP_REASON, startRedis, type RedisServer } from '../helpers/redis'

const root = path.resolve(import.meta.dirname, '../..')

type Report =
  | { window: { options: { webPreferences: Record<string, unknown> }; loaded: string } }
  | { header: Record<string, string[]> }
  | { push: string; args: unknown[] }
  | { reply: number; value: unknown }
  | { exit: number }
  | { error: string }
  | { privileged: Array<{ scheme: string; privileges: Record<string, boolean> }> }

const APP_PAGE = 'app://taskloop/index.html'

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

  /** A question for the fake Electron itself (fetchApp, permission, input), answered by reply id. */
  async ask<T>(message: Record<string, unknown>): Promise<T> {
    const id = ++this.nextId
    this.child.send({ ...message, id })
    const r = await this.next((x): x is { reply: number; value: unknown } => 'reply' in x && x.reply === id)
    return r.value as T
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
    ['batch', 'cancel', 'cancelAll', 'cluster', 'clusterSettings', 'forceShutdown', 'get', 'history', 'list', 'onEvent', 'pause', 'quit', 'resume', 'retry', 'setGroupLimit', 'setLimits', 'snapshot', 'stats', 'submit', 'watchLog'],
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

test('the packaging config flips the fuses: no NODE_OPTIONS, no --inspect, asar only and checked, no file:// extras', () => {
  const config = JSON.parse(readFileSync(path.join(root, 'electron-builder.json'), 'utf8')) as {
    asar: boolean
    files: string[]
    electronFuses: Record<string, boolean>
  }
  expect(config.asar).toBe(true)
  expect(config.files).toContain('out/**')
  expect(config.electronFuses).toMatchObject({
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    enableEmbeddedAsarIntegrityValidation: true,
    onlyLoadAppFromAsar: true,
    grantFileProtocolExtraPrivileges: false,
  })
  // RunAsNode stays on exactly as long as the process executor forks: in Electron child_process.fork
  // starts the app's own binary with ELECTRON_RUN_AS_NODE, which that fuse would disable.
  const forks = readFileSync(path.join(root, 'engine/executors/process-pool.ts'), 'utf8').includes("from 'node:child_process'")
  expect(config.electronFuses['runAsNode']).toBe(forks)
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  expect(pkg.scripts['dist']).toContain('--config electron-builder.json')
})

test.describe('main process', () => {
  let shell: Shell
  let dataDir: string

  test.beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-shell-'))
    const child = fork('out/main/index.js', [], {
      cwd: root,
      execArgv: ['--import', './tests/e2e/fake-electron/register.mjs'],
      // The dev-server variable is set as an attacker's environment could: a production build ignores it.
      env: { ...process.env, TASKLOOP_DATA_DIR: dataDir, ELECTRON_RENDERER_URL: 'http://127.0.0.1:9/evil.html' },
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

  test('one isolated, sandboxed window without DevTools on app://taskloop/index.html (never the dev URL), with the CSP header', async () => {
    const win = await shell.next((r): r is Extract<Report, { window: unknown }> => 'window' in r)
    expect(win.window.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      devTools: false,
    })
    expect(win.window.options.webPreferences['preload']).toBe(path.join(root, 'out/preload/index.cjs'))
    expect(win.window.loaded).toBe(APP_PAGE)
    const privileged = await shell.next((r): r is Extract<Report, { privileged: unknown }> => 'privileged' in r)
    expect(privileged.privileged).toEqual([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }])
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
    const fromAFile = await shell.invoke(INVOKE.snapshot, [], { url: `file://${path.join(root, 'out/renderer/index.html')}` })
    expect(fromAFile).toMatchObject({ ok: false, error: { code: 'invalid', path: 'sender' } })
    const fromOurPage = await shell.invoke(INVOKE.snapshot, [], { url: APP_PAGE })
    expect(fromOurPage.ok).toBe(true)

    // Engine batches are pushed to the window.
    await shell.next((r): r is Extract<Report, { push: string }> => 'push' in r && r.push === PUSH.event)
  })

  test('app:// serves the built renderer with the CSP, and nothing outside it', async () => {
    type Answer = { status: number; type: string | null; csp: string | null; body: string }
    const index = await shell.ask<Answer>({ fetchApp: APP_PAGE })
    expect(index).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', csp: PRODUCTION_CSP })
    expect(index.body).toContain('<title>Taskloop</title>')
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(index.body)![1]!
    expect(await shell.ask<Answer>({ fetchApp: `app://taskloop/${script}` })).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' })
    // out/main/index.js and package.json sit beside and above out/renderer: none of them may be reached.
    for (const escape of [
      'app://taskloop/..%2fmain%2findex.js',
      'app://taskloop/%2e%2e/main/index.js',
      'app://taskloop/assets/..%2f..%2f..%2fpackage.json',
      'app://taskloop/%2e%2e%2f%2e%2e%2fpackage.json',
      'app://taskloop/index.html%00.js',
      'app://elsewhere/index.html',
    ]) {
      const answer = await shell.ask<Answer>({ fetchApp: escape })
      expect(answer.status, escape).toBe(404)
      expect(answer.body, escape).toBe('not found')
    }
  })

  test('permissions are refused when requested and absent when checked; DevTools shortcuts are swallowed', async () => {
    for (const name of ['media', 'clipboard-read', 'notifications', 'geolocation']) {
      expect(await shell.ask({ permission: name }), name).toEqual({ check: false, request: false })
    }
    const shortcuts = [{ key: 'F12' }, { key: 'I', control: true, shift: true }, { key: 'j', control: true, shift: true }, { key: 'i', meta: true, alt: true }]
    for (const input of shortcuts) expect(await shell.ask({ input }), JSON.stringify(input)).toEqual({ prevented: true })
    expect(await shell.ask({ input: { key: 'a' } })).toEqual({ prevented: false })
    expect(await shell.ask({ input: { key: 'i', control: true } })).toEqual({ prevented: false })
  })

  test('SIGINT drains (the window sees the shutdown status) and exits 130; a second SIGINT forces at once', async () => {
    const stubborn = { name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true }, killGraceMs: 60_000 }
    const submitted = await shell.invoke<{ ids: string[] }>(INVOKE.submit, [stubborn])
    const id = submitted.ok ? submitted.value.ids[0]! : ''
    // Draining lists running tasks: the submit's answer comes before the scheduler's next turn starts it.
    await expect
      .poll(async () => {
        const got = await shell.invoke<{ state: string }>(INVOKE.get, [id])
        return got.ok ? got.value.state : got.error.error
      }, { timeout: 10_000 })
      .toBe('running')
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

test.describe('main process with a store it cannot use', () => {
  test('no store, no start: an error dialog naming the folder and why, exit 12, the corrupt file kept', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-shell-corrupt-'))
    const garbage = Buffer.from('not a database; '.repeat(300))
    writeFileSync(path.join(dataDir, 'taskloop.db'), garbage)
    const shell = new Shell(
      fork('out/main/index.js', [], {
        cwd: root,
        execArgv: ['--import', './tests/e2e/fake-electron/register.mjs'],
        env: { ...process.env, TASKLOOP_DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    )
    try {
      const { error } = await shell.next((r): r is { error: string } => 'error' in r)
      expect(error).toBe(
        `Taskloop could not open its task store: the task store ${dataDir}/taskloop.db is corrupt (file is not a database); --reset-store moves it aside and starts a new one`,
      )
      expect(await shell.exited).toBe(12)
      expect(shell.reports.some((r) => 'window' in r)).toBe(false)
      expect(readFileSync(path.join(dataDir, 'taskloop.db')).equals(garbage)).toBe(true)
    } finally {
      if (shell.child.exitCode === null) shell.child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

test.describe('main process with a cluster in its settings.json', () => {
  const PASSWORD = 's3cret-pw'
  let shell: Shell | null = null
  let redis: RedisServer | null = null
  let userData: string

  test.beforeEach(() => {
    const missing = redisMissing()
    if (missing) console.log(`skipped: ${missing}`)
    // Skipped where no redis-server is installed: these tests need a real one.
    test.skip(missing !== null, REDIS_SKIP_REASON)
    userData = mkdtempSync(path.join(os.tmpdir(), 'taskloop-shell-user-'))
  })

  test.afterEach(async () => {
    if (shell && shell.child.exitCode === null && shell.child.signalCode === null) shell.child.kill('SIGKILL')
    await shell?.exited
    shell = null
    await redis?.stop()
    redis = null
    rmSync(userData, { recursive: true, force: true })
  })

  async function start(settings: Record<string, unknown>): Promise<Shell> {
    writeFileSync(path.join(userData, 'settings.json'), JSON.stringify(settings))
    const child = fork('out/main/index.js', [], {
      cwd: root,
      execArgv: ['--import', './tests/e2e/fake-electron/register.mjs'],
      env: { ...process.env, FAKE_ELECTRON_USER_DATA: userData, TASKLOOP_DATA_DIR: path.join(userData, 'tasks') },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    shell = new Shell(child)
    await shell.next((r): r is Extract<Report, { window: unknown }> => 'window' in r, 40_000)
    return shell
  }

  test('joins the cluster at start, shows its settings with the password as ***, saves changes for the next start, never logs the password', async () => {
    redis = await startRedis({ password: PASSWORD })
    const app = await start({ redis: redis.url, nodeId: 'desk', queues: ['taskloop', 'gpu'] })
    const shown = `redis://:***@127.0.0.1:${redis.port}`
    await expect
      .poll(async () => {
        const r = await app.invoke<ClusterInfo>(INVOKE.cluster)
        return r.ok ? r.value.nodes.find((n) => n.self)?.queues : r.error
      })
      .toEqual(['taskloop', 'gpu'])
    const info = await app.invoke<ClusterInfo>(INVOKE.cluster)
    expect(info).toMatchObject({ ok: true, value: { enabled: true, nodeId: 'desk', redis: shown, connected: true } })

    const settings = await app.invoke<ClusterSettings>(INVOKE.clusterSettings)
    expect(settings).toEqual({ ok: true, value: { source: 'app', redis: shown, nodeId: 'desk', queues: ['taskloop', 'gpu'], problem: null } })
    // Saved back with *** (the UI never had the password): the saved one is kept; the running node is unchanged.
    const saved = await app.invoke<ClusterSettings>(INVOKE.clusterSettings, [{ redis: shown, nodeId: 'desk-2', queues: ['gpu'] }])
    expect(saved).toMatchObject({ ok: true, value: { redis: shown, nodeId: 'desk-2', queues: ['gpu'] } })
    expect(JSON.parse(readFileSync(path.join(userData, 'settings.json'), 'utf8'))).toEqual({ redis: redis.url, nodeId: 'desk-2', queues: ['gpu'] })
    expect(await app.invoke<ClusterInfo>(INVOKE.cluster)).toMatchObject({ ok: true, value: { nodeId: 'desk' } })
    const refused = await app.invoke(INVOKE.clusterSettings, [{ redis: 'http://nope' }])
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid', path: 'redis' } })

    expect(app.output).toContain(`cluster node desk on ${shown}`)
    app.child.kill('SIGTERM')
    expect(await app.exited).toBe(143)
    expect(app.output).not.toContain(PASSWORD)
  })

  test('Redis not there at its start: the app starts all the same, in the cluster, saying Redis is unreachable', async () => {
    const port = await freePort()
    const app = await start({ redis: `redis://:${PASSWORD}@127.0.0.1:${port}`, nodeId: 'desk' })
    const info = await app.invoke<ClusterInfo>(INVOKE.cluster)
    expect(info).toMatchObject({ ok: true, value: { enabled: true, nodeId: 'desk', redis: `redis://:***@127.0.0.1:${port}`, connected: false } })
    expect(info.ok && info.value.error).toBeTruthy()
    // Its own tasks run meanwhile.
    const ok = await app.invoke<{ ids: string[] }>(INVOKE.submit, [{ job: 'sleep', params: { ms: 10 } }])
    expect(ok.ok).toBe(true)
    expect(app.output).not.toContain(PASSWORD)
  })
})
