// A real redis-server (Debian's package) for the tests and benchmarks that need one: started on a
// free loopback port with no persistence, in its own process group, stopped (and waited for) at
// the end. Nothing is mocked: when redis-server is missing, `startRedis` throws saying how to
// install it (`.ci/run` does).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer, connect } from 'node:net'

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p))

/** Why Redis tests cannot run here, or null when they can (for a skip that says why). */
export const redisMissing = (): string | null =>
  REDIS_SERVER ? null : 'redis-server is not installed (Debian: apt-get install -y redis-server; .ci/run does this)'

/** The reason a Redis spec gives its skip, in one line. */
export const REDIS_SKIP_REASON = 'needs a real redis-server, a Debian package that .ci/run installs, and none is installed here'

export interface RedisServer {
  port: number
  url: string
  /** The server's pid (its process group too). */
  pid: number
  /** Runs redis-cli against this server; returns its stdout (throws on a non-zero exit). */
  cli(...args: string[]): string
  /** SIGKILLs the server (a crash) or, with `graceful`, shuts it down; waits until the port is closed. */
  stop(options?: { graceful?: boolean }): Promise<void>
  /** Starts the server again on the same port (after stop), empty (no persistence). */
  restart(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis: timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const missing = redisMissing()
  if (missing) throw new Error(missing)
  const port = await freePort()
  let child: ChildProcess | null = null
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--loglevel', 'warning',
    // BullMQ requires keys to stay: never evict.
    '--maxmemory-policy', 'noeviction',
    ...(options.password ? ['--requirepass', options.password] : []),
  ]
  const launch = async (): Promise<void> => {
    child = spawn(REDIS_SERVER!, args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true })
    child.unref()
    await until(() => portOpen(port), 10_000, `redis-server on port ${port}`)
  }
  await launch()
  const auth = options.password ? ['-a', options.password, '--no-auth-warning'] : []
  const server: RedisServer = {
    port,
    url: options.password ? `redis://:${encodeURIComponent(options.password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? 0
    },
    cli(...cliArgs) {
      const out = spawnSync('redis-cli', ['-p', String(port), ...auth, ...cliArgs], { encoding: 'utf8' })
      if (out.status !== 0) throw new Error(`redis-cli ${cliArgs.join(' ')}: ${out.stderr || out.stdout}`)
      return out.stdout
    },
    async stop({ graceful = false } = {}) {
      const current = child as ChildProcess | null
      if (!current?.pid) return
      try {
        process.kill(-current.pid, graceful ? 'SIGTERM' : 'SIGKILL')
      } catch {
        // already gone
      }
      // The process may linger as a zombie (pid 1 here does not reap); the closed port is what counts.
      await until(async () => !(await portOpen(port)), 10_000, `redis-server on port ${port} to stop`)
      child = null
    },
    async restart() {
      await server.stop()
      await launch()
    },
  }
  return server
}
