// The `taskloop` command (bin/taskloop.mjs runs the build of this file, out/main/cli.js):
// `serve` for the UI in a browser, `run` for a spec file in the terminal.
import { readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { SHUTDOWN_GRACE_MS } from '../common/defaults'
import { STORE_EXIT_CODES } from '../engine/data-folder'
import { UsageError } from './args'
import { run } from './run'
import { DEFAULT_PORT, serve } from './serve'

export const USAGE = `Usage:
  taskloop serve [--port N] [--host H] [--token-file F | --token T] [--no-auth] [--open] [--shutdown-grace-ms N]
                 [--jobs DIR] [--data-dir DIR [--reset-store] | --no-store] [--on-stop keep|cancel]
                 [--tls-cert F --tls-key F | --insecure-http]
                 [--redis URL [--node-id ID] [--queue NAME ...] [--queue-allow LIST] [--stalled-interval-ms N]]
      Runs the engine and serves the UI and the HTTP API; prints the UI's URL (with its token).
      --port N      port to listen on (default ${DEFAULT_PORT}, or a free one when it is taken)
      --host H      address to bind (default 127.0.0.1). Anything else needs a token of at least 128 bits
                    (32+ characters; the random default has 256) and either TLS or --insecure-http
      --token-file F  read the token from this file (or set TASKLOOP_TOKEN), instead of a random one
      --token T     the same, but visible to every user in \`ps\`: prefer --token-file
      --no-auth     no token at all (for tests only)
      --tls-cert F, --tls-key F
                    serve https and wss with this PEM certificate and key
      --insecure-http
                    allow a non-loopback --host over plain http: the token and every request cross the
                    network unencrypted, readable by anyone who can see the traffic
      --open        open the UI in a Chromium/Chrome app window (through a private redirect file, so
                    the token is on no command line)
      --shutdown-grace-ms N
                    how long running tasks get to stop at shutdown before they are forced
                    (default ${SHUTDOWN_GRACE_MS}; a task's own cancel grace is its killGraceMs)
      --jobs DIR    folder of job modules that specs may name by export alone (repeatable)
      --data-dir D  task store (SQLite) and log files (default $XDG_DATA_HOME/taskloop, i.e.
                    ~/.local/share/taskloop); on start, pending tasks run again and interrupted ones
                    are marked. One process per folder.
      --reset-store a corrupt store, or one from a newer Taskloop, is moved aside as
                    taskloop.db.broken-<time> and a new one started (it is never deleted)
      --no-store    keep tasks in memory only
      --on-stop S   what any stop does with pending tasks: keep (for the next start) or cancel
                    (default: SIGTERM and SIGHUP keep, Ctrl+C and the UI's Quit cancel)
      --redis URL   join a cluster on this Redis (redis://[user:pass@]host:port, rediss:// for TLS; or set
                    TASKLOOP_REDIS_URL to keep the password out of \`ps\`). Whoever can write to its queues
                    runs commands on this node: see --queue-allow
      --node-id ID  this node's name in the cluster (default host name and pid)
      --queue NAME  a BullMQ queue this node serves (repeatable; default taskloop)
      --queue-allow LIST
                    executors this node runs for the cluster, e.g. loop,thread,process (refuses commands)
      --stalled-interval-ms N
                    how soon a dead node's job moves to another node (default 5000)

  taskloop run FILE.json [--shutdown-grace-ms N] [--jobs DIR] [--json | --jsonl] [--data-dir DIR [--reset-store] | --no-store]
                         [--on-stop keep|cancel] [--redis URL]
      Runs a JobSpec, an array of JobSpecs, or {"batch": ...} with a live view in the terminal.
      Relative job modules and command cwd resolve against the current folder.
      --data-dir D  where to keep this run's tasks and full logs (default: a new folder under
                    ~/.local/share/taskloop/runs/, the newest 20 kept)
      --json        print a JSON report on stdout at the end: every task's final snapshot, and each
                    batch's gathered results
      --jsonl       print each task on stdout as one JSON line (its final snapshot) as it finishes,
                    in the order they finish; the live view and the summary go to stderr
      --on-stop S   keep: a stop leaves pending tasks pending in the run's folder (default cancel:
                    the folder of a run is not started again)
      --redis URL   specs with "queue" go to the cluster on this Redis; the run waits for them too
      Exit status: 0 all done, 1 any failed or cancelled, 2 bad input, 130 after Ctrl+C.

  No store, no start: when the data folder's store cannot be used, serve and run print one line
  naming the folder and the reason, and exit with
      ${STORE_EXIT_CODES['in-use']}  the folder is in use by another Taskloop (its URL is named when it serves one)
      ${STORE_EXIT_CODES.unreadable}  the folder or its store cannot be created, opened or written
      ${STORE_EXIT_CODES.corrupt}  the store is corrupt (--reset-store moves it aside)
      ${STORE_EXIT_CODES.newer}  the store was written by a newer Taskloop (--reset-store moves it aside)
  Running without a store is only ever --no-store.

  Ctrl+C (SIGINT), SIGTERM, SIGHUP: graceful shutdown; Ctrl+C again forces it. Running tasks are
  cancelled, or with keep stopped as interrupted (onInterrupt "requeue": pending again).

  taskloop --help
  taskloop --version
`

/** The package's version: the nearest package.json up from this file (cli/ from source, out/main/ built). */
export function version(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'taskloop' && pkg.version) return pkg.version
    } catch {
      // no package.json here: look further up
    }
    const up = path.dirname(dir)
    if (up === dir) return 'unknown'
    dir = up
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE)
        return 0
      case '--version':
      case '-v':
        process.stdout.write(`taskloop ${version()}\n`)
        return 0
      case 'serve':
      case 'run':
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(USAGE)
          return 0
        }
        return command === 'serve' ? await serve(rest) : await run(rest)
      default:
        throw new UsageError(command === undefined ? 'missing command' : `unknown command "${command}"`)
    }
  } catch (e) {
    // parseArgs reports unknown or malformed options with these codes.
    const code = (e as { code?: string }).code
    if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      // One line, not the whole usage: the mistake stays visible.
      process.stderr.write(`taskloop: ${(e as Error).message} (see taskloop --help)\n`)
      return 2
    }
    throw e
  }
}

/** True when this file is the process's entry (`node out/main/cli.js`), not imported by bin/taskloop.mjs. */
function isEntry(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntry()) {
  // `taskloop run x.json | head`: a closed pipe is not a crash.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`taskloop: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
      process.exit(1)
    },
  )
}
