// Every default the engine and its hosts share, named once. The engine's options, the CLI's
// flags, the Electron host and the usage text all read them from here.
import type { Limits } from './types'

/** How long running tasks get to stop cooperatively at shutdown before they are forced. */
export const SHUTDOWN_GRACE_MS = 5000
/** A task's cooperative-cancel grace when its spec names no killGraceMs. */
export const KILL_GRACE_MS = 3000
/** Events (and log lines) reach clients coalesced per this interval. */
export const BATCH_INTERVAL_MS = 50
/** Finished tasks kept in the engine's memory; older ones live on in the store only. */
export const KEEP_IN_MEMORY = 20_000
/** Backpressure: a submit that would take the pending queue past this is refused (overloaded). */
export const MAX_PENDING = 200_000
/** Concurrency of the loop and command executors; the thread and process pools get one per core. */
export const LOOP_LIMIT = 256
export const COMMAND_LIMIT = 16
/** Heap limit of each pool thread in MB: a job past it fails as crashed, the app lives on. */
export const THREAD_HEAP_MB = 2048
/** A log line longer than this (marker included) keeps its head and says how much was cut. */
export const MAX_LOG_LINE_CHARS = 16_384
/** A result whose JSON is longer than this is replaced by a preview (results travel to every client). */
export const MAX_RESULT_CHARS = 65_536

/** A page of api.history when the query names no limit. */
export const HISTORY_PAGE_SIZE = 100

export function limitsForCores(cores: number): Limits {
  const n = Math.max(1, cores)
  return { loop: LOOP_LIMIT, thread: n, process: n, command: COMMAND_LIMIT }
}

/** How often the engine checks that its data folder, database and lock are still the ones it opened. */
export const STORE_CHECK_MS = 15_000
