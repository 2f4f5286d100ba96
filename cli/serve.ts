// `taskloop serve`: the engine on its own thread, the UI and API over HTTP + WebSocket,
// until Ctrl+C, SIGTERM, SIGHUP or the UI's Quit. Exit 0 (130 when Ctrl+C stopped it).
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { intOption, listsOption, onStopOption, queueAllowOption, SHUTDOWN_GRACE_OPTIONS, shutdownGraceOption, UsageError } from './args'
import type { EngineHandle } from '../engine/handle'
import { isLoopbackHost, isWildcardHost, newToken } from '../server/auth'
import { findBrowser, openAppWindow } from './browser'
import type { AppWindow } from './browser'
import { defaultDataHome, startEngineOrRefuse } from './data-dir'
import { whenAnswered } from '../engine/thread/client'
import { startServer } from '../server/server'
import type { TaskloopServer } from '../server/server'
import { holdSignals, PENDING_ON_STOP, shutdownOnSignals } from './shutdown-signals'

export const DEFAULT_PORT = 7420

/** The built renderer, out/renderer, seen from cli/serve.ts (source) or from out/main/cli.js (built). */
const HERE = path.dirname(fileURLToPath(import.meta.url))
const STATIC_DIR = path.resolve(HERE, path.basename(path.dirname(HERE)) === 'out' ? '../renderer' : '../out/renderer')

const loud = (lines: string[]): void => {
  const bar = '!'.repeat(72)
  process.stderr.write(`\n${bar}\n${lines.map((l) => `!!! ${l}`).join('\n')}\n${bar}\n\n`)
}

/** 128 bits: 32 hex digits (the random default has 64). Required before the token may face a network. */
const EXPOSED_TOKEN_MIN_CHARS = 32

const readOption = (file: string, flag: string): string => {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`)
  }
}

/**
 * The token the user chose, from `--token-file`, `--token` or `TASKLOOP_TOKEN` (the first two are
 * exclusive), or undefined for a random one. A file or the environment keep it out of `ps`.
 */
function chosenToken(flag: string | undefined, file: string | undefined): string | undefined {
  const fromEnv = process.env.TASKLOOP_TOKEN
  // Command tasks inherit this process's environment: the token must not reach them.
  delete process.env.TASKLOOP_TOKEN
  if (flag !== undefined && file !== undefined) throw new UsageError('--token and --token-file: give one of them')
  if (file !== undefined) {
    const token = readOption(file, '--token-file').trim()
    if (token === '') throw new UsageError(`--token-file: ${file} is empty`)
    return token
  }
  return flag ?? (fromEnv || undefined)
}

/** In the data folder, 0600: the generated token, and the secret that signs session cookies. */
export const TOKEN_FILE = 'server-token'
export const SESSION_SECRET_FILE = 'session-secret'

/** The folder's file, or a new one written 0600 (`wx`: two starts racing both end up reading one). */
function keptSecret(file: string, make: () => string): string {
  try {
    writeFileSync(file, `${make()}\n`, { mode: 0o600, flag: 'wx' })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    // Copied or restored with looser rights: only the owner may read a credential.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  }
  return readFileSync(file, 'utf8').trim()
}

/**
 * A data folder keeps the login across restarts: the same printed URL (a generated token is stored
 * and reused; a chosen one wins and is not stored) and the same sessions, so an open tab reconnects.
 */
function keptLogin(dataDir: string, chosen: string | undefined): { token: string; sessionSecret: Buffer } {
  const stored = chosen === undefined ? keptSecret(path.join(dataDir, TOKEN_FILE), newToken) : ''
  const token = chosen ?? (/^[A-Za-z0-9._~-]{16,}$/.test(stored) ? stored : newToken())
  const secret = keptSecret(path.join(dataDir, SESSION_SECRET_FILE), () => randomBytes(32).toString('hex'))
  return { token, sessionSecret: Buffer.from(secret, 'utf8') }
}

/**
 * `--redis URL` (or TASKLOOP_REDIS_URL, which keeps a password out of `ps`) and the flags that go
 * with it; null without either. The URL is taken out of the environment: command tasks inherit it.
 */
function clusterOptions(values: {
  redis?: string
  'node-id'?: string
  queue?: string[]
  'queue-allow'?: string
  'stalled-interval-ms'?: string
  'redis-list'?: string[]
  'list-job'?: string
}): import('../cluster/index').ClusterOptions | null {
  const fromEnv = process.env.TASKLOOP_REDIS_URL
  delete process.env.TASKLOOP_REDIS_URL
  const redis = values.redis ?? (fromEnv || undefined)
  const queueAllow = queueAllowOption(values['queue-allow'])
  const stalledIntervalMs = intOption(values['stalled-interval-ms'], '--stalled-interval-ms', 500, 600_000)
  const lists = listsOption(values)
  if (redis === undefined) {
    const stray = (['node-id', 'queue', 'queue-allow', 'stalled-interval-ms', 'redis-list', 'list-job'] as const).find((k) => values[k] !== undefined)
    if (stray) throw new UsageError(`--${stray} is for a cluster node: give --redis URL too`)
    return null
  }
  return {
    redis,
    ...(values['node-id'] !== undefined ? { nodeId: values['node-id'] } : {}),
    ...(values.queue ? { queues: values.queue.flatMap((q) => q.split(',')).filter(Boolean) } : {}),
    ...(queueAllow ? { queueAllow } : {}),
    ...(stalledIntervalMs !== undefined ? { stalledIntervalMs } : {}),
    ...lists,
  }
}

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'no-auth': { type: 'boolean', default: false },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'insecure-http': { type: 'boolean', default: false },
      open: { type: 'boolean', default: false },
      ...SHUTDOWN_GRACE_OPTIONS,
      jobs: { type: 'string', multiple: true },
      'data-dir': { type: 'string' },
      'no-store': { type: 'boolean', default: false },
      'on-stop': { type: 'string' },
      'reset-store': { type: 'boolean', default: false },
      // A cluster node: cluster/ is loaded only with --redis.
      redis: { type: 'string' },
      'node-id': { type: 'string' },
      queue: { type: 'string', multiple: true },
      'queue-allow': { type: 'string' },
      'stalled-interval-ms': { type: 'string' },
      'redis-list': { type: 'string', multiple: true },
      'list-job': { type: 'string' },
    },
  })
  const cluster = clusterOptions(values)
  const onStop = onStopOption(values['on-stop'])
  const explicitPort = intOption(values.port, '--port', 0, 65_535)
  const graceMs = shutdownGraceOption(values)
  const host = values.host ?? '127.0.0.1'
  const auth = !values['no-auth']
  const token = chosenToken(values.token, values['token-file'])
  if (token !== undefined) {
    // It travels in a URL: keep it to characters that need no escaping.
    if (!/^[A-Za-z0-9._~-]+$/.test(token)) throw new UsageError('the token may only hold A-Z a-z 0-9 . _ ~ -')
    if (token.length < 16) process.stderr.write('Warning: a token shorter than 16 characters is easy to guess.\n')
  }
  if (!auth && token !== undefined) throw new UsageError('a token and --no-auth contradict each other')
  const [certFile, keyFile] = [values['tls-cert'], values['tls-key']]
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together')
  const tls = certFile && keyFile ? { cert: readOption(certFile, '--tls-cert'), key: readOption(keyFile, '--tls-key') } : undefined
  if (tls && values['insecure-http']) throw new UsageError('--insecure-http and --tls-cert contradict each other')
  if (!isLoopbackHost(host)) {
    if (!auth) throw new UsageError(`--host ${host} exposes Taskloop to the network: it requires auth (drop --no-auth)`)
    if (token !== undefined && token.length < EXPOSED_TOKEN_MIN_CHARS) {
      throw new UsageError(
        `--host ${host} needs a token of at least 128 bits: ${EXPOSED_TOKEN_MIN_CHARS} or more random characters (or none: the random default has 256 bits)`,
      )
    }
    if (!tls && !values['insecure-http']) {
      throw new UsageError(
        `--host ${host} would send the token and every command over the network in clear text: ` +
          'give --tls-cert FILE and --tls-key FILE, or --insecure-http to accept that',
      )
    }
    loud([
      `Taskloop is listening on ${isWildcardHost(host) ? 'every network interface' : host} (--host ${host}), not only on this machine.`,
      'Anyone on your network who learns the token can run any command as you.',
      ...(tls
        ? []
        : [
            '--insecure-http: the token and every request cross the network unencrypted. Anyone who can see',
            'the traffic (same Wi-Fi, a router, a proxy) can read the token and run any command as you.',
          ]),
    ])
  }

  const jobsDirs = (values.jobs ?? []).map((d) => path.resolve(d))
  if (values['no-store'] && values['reset-store']) throw new UsageError('--reset-store and --no-store contradict each other')
  const dataDir = values['no-store'] ? undefined : path.resolve(values['data-dir'] ?? defaultDataHome())
  const held = holdSignals()
  const engine = await startEngineOrRefuse(
    'serve',
    { jobsDirs, shutdownGraceMs: graceMs, ...(dataDir ? { dataDir, resetStore: values['reset-store'] } : {}) },
    () => held.release(),
  )
  if (typeof engine === 'number') return engine
  let api: EngineHandle = engine
  if (cluster) {
    try {
      const { joinCluster } = await import('../cluster/index')
      if (cluster.lists && cluster.nodeId === undefined) {
        // Its processing lists are found again by the next start on this data folder.
        cluster.nodeId = (await import('../cluster/redis-list')).defaultNodeId(dataDir)
      }
      const node = await joinCluster(engine, cluster)
      api = node
      const info = await node.cluster()
      process.stdout.write(`Cluster node ${node.nodeId} on ${info.redis} serving ${cluster.queues?.join(', ') || 'taskloop'}\n`)
      if (cluster.lists) process.stderr.write(`Consuming Redis list${cluster.lists.length > 1 ? 's' : ''} ${cluster.lists.join(', ')} as node ${node.nodeId}\n`)
    } catch (e) {
      process.stderr.write(`taskloop serve: cannot join the cluster: ${(e as Error).message}\n`)
      held.release()
      await engine.shutdown({ graceMs: 0 })
      return 1
    }
  }
  // A blocked or restarted engine is said where the operator looks, not only in the UI.
  engine.onNotice((notice) => void process.stderr.write(`${notice}\n`))
  // The store opened, yet its log folder may not be writable: tasks run, and it is said.
  const storeError = (await whenAnswered(() => engine.stats())).store?.error
  if (storeError) process.stderr.write(`Warning: ${storeError}\n`)
  // A store moved aside (--reset-store), rows set aside, orphans ended: one line each start.
  const { notice } = await whenAnswered(() => engine.snapshot())
  if (notice) process.stderr.write(`Notice: ${notice}\n`)
  let login: { token?: string; sessionSecret?: Buffer }
  try {
    login = auth && dataDir ? keptLogin(dataDir, token) : token ? { token } : {}
  } catch (e) {
    process.stderr.write(`taskloop serve: cannot keep the login in ${dataDir}: ${(e as Error).message}\n`)
    held.release()
    await api.shutdown({ graceMs: 0 })
    return 1
  }
  let server: TaskloopServer
  try {
    const options = { engine: api, host, auth, staticDir: STATIC_DIR, ...login, ...(tls ? { tls } : {}) }
    try {
      server = await startServer({ ...options, port: explicitPort ?? DEFAULT_PORT })
    } catch (e) {
      // The default port is a convenience: when it is taken, any free one does.
      if (explicitPort !== undefined || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e
      server = await startServer({ ...options, port: 0 })
    }
  } catch (e) {
    process.stderr.write(`taskloop serve: cannot listen on ${host}:${explicitPort ?? DEFAULT_PORT}: ${(e as Error).message}\n`)
    held.release()
    await api.shutdown({ graceMs: 0 })
    return 1
  }

  const uiUrl = auth ? `${server.url}/?token=${server.token}` : `${server.url}/`
  process.stdout.write(`Taskloop UI: ${uiUrl}\n`)
  // A second `taskloop serve` on this folder names this URL instead of starting.
  engine.lock?.announce(uiUrl)

  const stop = shutdownOnSignals(api, {
    graceMs,
    say: (line) => void process.stderr.write(`${line}\n`),
    pendingOn: (trigger) => onStop ?? PENDING_ON_STOP[trigger],
  })
  const earlySignal = held.release()
  if (earlySignal !== null) stop.begin(earlySignal)

  let window: AppWindow | null = null
  let closingWindow = false
  if (values.open) {
    const browser = findBrowser()
    const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY
    if (browser === null) process.stderr.write('--open: no Chromium or Chrome found; open the URL above in a browser.\n')
    else if (headless) process.stderr.write('--open: no display (DISPLAY is not set); open the URL above in a browser.\n')
    else {
      window = await openAppWindow(browser, uiUrl)
      void window.exited.then(() => {
        if (!closingWindow) process.stderr.write('The UI window closed; Taskloop keeps serving (Ctrl+C to stop).\n')
      })
    }
  }

  const { trigger } = await stop.finished
  stop.dispose()
  closingWindow = true
  await Promise.all([server.close(), window?.close()])
  return trigger === 'SIGINT' ? 130 : trigger === 'lost' ? 1 : 0
}
