// The notes' Redis-list worker: producers `LPUSH KEY item`, this node takes each item and runs it
// as one task. An item is moved (BLMOVE/LMOVE, atomically) from the list to this node's
// processing list `taskloop:list:<nodeId>:<KEY>` and leaves it only when its task has ended, so
// a node killed mid-item loses nothing: the next start finds the item there and runs it again.
// docs/ARCHITECTURE.md, "Redis lists", has the picture.
import { hostname } from 'node:os'
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { TaskloopApi } from '../common/api'
import { executorOf } from '../engine/submit-plan'
import { isFinal, TaskloopError, type EngineEvent, type SubmitSpec, type TaskReason, type TaskSpec, type TaskState } from '../common/types'

/** How a task ended (or where it is now), as far as an item of a list cares. */
export interface TaskEnd {
  state: TaskState
  reason: TaskReason | null
}

export interface ListConsumerOptions {
  /** A connection of its own: the consumer blocks on it (BLMOVE) and closes it at stop. */
  redis: Redis
  nodeId: string
  /** The list, e.g. "queue". */
  key: string
  /** The job for an item that is not a JSON task spec (params.item = the item); null: such items are refused. */
  listJob: string | null
  /** Submits one task; returns its id. Tasks must be created in the order of the calls (list order). */
  submit: (spec: SubmitSpec, meta: { queue: string }) => Promise<string>
  /** Resolves when the task is final (done, failed or cancelled), with its reason. */
  waitFinal: (id: string) => Promise<TaskEnd>
  /** The task's state now, or null when this node's engine does not know it (asked at start, for the items a previous run left). */
  lookup: (id: string) => Promise<TaskEnd | null>
  onError: (error: Error) => void
  /** Items in flight at most (taken from the list, task not final yet): what the engine can start soon. Default 16. */
  maxInFlight?: number
}

export interface ListConsumer {
  stop(): Promise<void>
}

/** The keys of one consumed list on one node. */
export const listKeys = (nodeId: string, key: string): { processing: string; tasks: string; refused: string } => ({
  processing: `taskloop:list:${nodeId}:${key}`,
  // Which task runs which item of the processing list: lets a restart tell a task the engine kept
  // (pending, or requeued) from one that must run again.
  tasks: `taskloop:list-tasks:${nodeId}:${key}`,
  refused: `taskloop:list-refused:${key}`,
})

/** The `queue` a list's tasks carry (ClusterNode.queues, TaskSnapshot.queue). */
export const listQueue = (key: string): string => `list:${key}`

const DEFAULT_IN_FLIGHT = 16
/** Items taken in one round trip when the list has several waiting. */
const TAKE_BATCH = 64
/** How long one BLMOVE blocks; also how soon stop() ends the loop. */
const BLOCK_S = 1
const BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000]

/** Refused at submit because of the item itself (it never becomes a task), not because the engine cannot take it now. */
const itemRefused = (e: unknown): boolean => e instanceof TaskloopError && (e.code === 'invalid' || e.code === 'not-found' || e.code === 'conflict')
const cannotTakeMore = (e: unknown): boolean => e instanceof TaskloopError && e.code === 'shutting-down'

/** A task that ended because its node stopped (not because of the item): the item runs again. */
const nodeStopped = (end: TaskEnd): boolean =>
  (end.state === 'failed' && end.reason === 'interrupted') || (end.state === 'cancelled' && end.reason === 'shutdown')

const NAME_CHARS = 60

/**
 * The task an item becomes: a JSON object naming a job or a command is that task spec; anything
 * else is `params.item` of the list job. A batch is refused: one item is one task.
 */
export function itemSpec(key: string, item: string, listJob: string | null): TaskSpec {
  let parsed: unknown
  if (item.trimStart().startsWith('{')) {
    try {
      parsed = JSON.parse(item)
    } catch {
      parsed = undefined
    }
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    if ('batch' in parsed) throw new TaskloopError('invalid', 'a list item is one task: a {batch} is not taken', 'item')
    if ('job' in parsed || 'command' in parsed || 'argv' in parsed) return parsed as TaskSpec
  }
  if (listJob === null) {
    throw new TaskloopError('invalid', `not a JSON task spec, and no --list-job names a job for plain items`, 'item')
  }
  const label = item.length > NAME_CHARS ? `${item.slice(0, NAME_CHARS)}…` : item
  return { name: `${key}: ${label}`, job: listJob, params: { item } }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function startListConsumer(options: ListConsumerOptions): ListConsumer {
  const { redis: blocking, nodeId, key, listJob, onError } = options
  const keys = listKeys(nodeId, key)
  const queue = listQueue(key)
  const maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_IN_FLIGHT)
  // Commands wait behind a BLMOVE on its connection: everything else goes on a second one, where
  // the commands of one turn of the event loop travel in one write.
  const redis = blocking.duplicate({ enableAutoPipelining: true })
  // Outages are said once, by whoever listens on the caller's connection; unheard, ioredis would print each.
  redis.on('error', () => {})
  let stopping = false
  let inFlight = 0
  let slotFreed: (() => void) | null = null
  const writes = new Set<Promise<void>>()

  const report = (what: string, e: unknown): void => {
    const error = e instanceof Error ? e : new Error(String(e))
    onError(new Error(`redis list "${key}": ${what}: ${error.message}`))
  }

  /** A write that must happen (the item's bookkeeping): retried with backoff until Redis takes it, or the consumer stops. */
  const mustWrite = (what: string, write: () => Promise<unknown>): void => {
    const p = (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await write()
          return
        } catch (e) {
          if (stopping && attempt > 2) return report(`${what} left for the next start`, e)
          if (attempt === 0) report(what, e)
          await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!)
        }
      }
    })()
    writes.add(p)
    void p.finally(() => writes.delete(p))
  }

  const release = (): void => {
    inFlight--
    slotFreed?.()
    slotFreed = null
  }

  /** Follows one task of an item to its end; the item leaves the processing list unless the node stopped under it. */
  const follow = (item: string, id: string): void => {
    void (async () => {
      let end: TaskEnd
      for (let attempt = 0; ; attempt++) {
        try {
          end = await options.waitFinal(id)
          break
        } catch (e) {
          // The engine may be restarting: its store still knows the task.
          if (e instanceof TaskloopError && e.code === 'not-found') {
            end = { state: 'failed', reason: 'interrupted' }
            break
          }
          if (stopping) return release()
          if (attempt === 0) report(`waiting for task ${id}`, e)
          await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!)
        }
      }
      if (nodeStopped(end)) {
        // Stopping: left in the processing list for the next start. Otherwise (the engine thread
        // was restarted under it) it runs again now.
        if (stopping) return release()
        mustWrite(`forgetting task ${id}`, () => redis.hdel(keys.tasks, id))
        return void run(item).finally(release)
      }
      // In this order: a node that dies between the two leaves a task entry whose item is gone, which recover() drops.
      mustWrite(`removing a finished item (task ${id})`, async () => {
        await Promise.all([redis.lrem(keys.processing, 1, item), redis.hdel(keys.tasks, id)])
      })
      release()
    })()
  }

  /** Submits the task of an item already in the processing list; false when the engine takes no more (the item stays there). */
  const run = async (item: string): Promise<boolean> => {
    let spec: TaskSpec
    try {
      spec = itemSpec(key, item, listJob)
    } catch (e) {
      refuse(item, e)
      return true
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const id = await options.submit(spec, { queue })
        mustWrite(`recording task ${id}`, () => redis.hset(keys.tasks, id, item))
        inFlight++
        follow(item, id)
        return true
      } catch (e) {
        if (itemRefused(e)) {
          refuse(item, e)
          return true
        }
        // The engine takes no more (it shuts down): the caller decides where the item goes.
        if (cannotTakeMore(e) || stopping) return false
        if (attempt === 0) report('submitting an item (retrying)', e)
        await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!)
      }
    }
  }

  const refuse = (item: string, e: unknown): void => {
    const preview = item.length > NAME_CHARS ? `${item.slice(0, NAME_CHARS)}…` : item
    report(`item ${JSON.stringify(preview)} refused (moved to ${keys.refused})`, e)
    mustWrite('moving a refused item', () => redis.multi().lrem(keys.processing, 1, item).lpush(keys.refused, item).exec())
  }

  /**
   * Items a previous run of this node left in its processing list, oldest first: a task the engine
   * kept is followed, one that ended is cleared, the others run again. Reads first (they may fail
   * and be retried), then acts without failing (writes retry on their own), so a retry never acts twice.
   */
  const recover = async (): Promise<void> => {
    const [items, tasks] = await Promise.all([redis.lrange(keys.processing, 0, -1), redis.hgetall(keys.tasks)])
    const entries = await Promise.all(Object.entries(tasks).map(async ([id, item]) => ({ id, item, now: await options.lookup(id) })))
    const left = new Map<string, number>()
    for (const item of items) left.set(item, (left.get(item) ?? 0) + 1)
    const take = (item: string): boolean => {
      const n = left.get(item) ?? 0
      if (n > 0) left.set(item, n - 1)
      return n > 0
    }
    for (const { id, item, now } of entries) {
      if (now !== null && !isFinal(now.state) && take(item)) {
        // Kept pending across the restart, or requeued: the engine runs it; the item waits for it.
        inFlight++
        follow(item, id)
      } else if (now !== null && isFinal(now.state) && !nodeStopped(now) && take(item)) {
        // It ended before the node died, but the item was not removed yet.
        mustWrite(`removing a finished item (task ${id})`, async () => {
          await Promise.all([redis.lrem(keys.processing, 1, item), redis.hdel(keys.tasks, id)])
        })
      } else {
        // Unknown to this engine (another data folder), interrupted, or its item gone: the item, if there, runs again.
        mustWrite(`forgetting task ${id}`, () => redis.hdel(keys.tasks, id))
      }
    }
    // LPUSH producers, RIGHT→LEFT moves: the oldest item is at the right end.
    for (const item of items.reverse()) {
      if (take(item) && !(await run(item))) return
    }
  }

  const slot = async (): Promise<void> => {
    while (inFlight >= maxInFlight && !stopping) await new Promise<void>((r) => (slotFreed = r))
  }

  const loop = async (): Promise<void> => {
    let attempt = 0
    let recovered = false
    while (!stopping) {
      try {
        if (!recovered) {
          await recover()
          recovered = true
        }
        await slot()
        if (stopping) break
        // Several waiting: take up to the free slots in one round trip; none: block for the next.
        const free = Math.min(TAKE_BATCH, maxInFlight - inFlight)
        let taken: string[] = []
        if (free > 1) {
          const pipe = redis.pipeline()
          for (let i = 0; i < free; i++) pipe.lmove(key, keys.processing, 'RIGHT', 'LEFT')
          const replies = (await pipe.exec()) ?? []
          for (const [error, item] of replies) {
            if (error) throw error
            if (typeof item === 'string') taken.push(item)
          }
        }
        if (taken.length === 0) {
          const item = await blocking.blmove(key, keys.processing, 'RIGHT', 'LEFT', BLOCK_S)
          if (item !== null) taken = [item]
        }
        attempt = 0
        // Submitted together: each submit is sent in list order before any reply is awaited, so
        // the tasks are created in that order.
        const submitted = await Promise.all(taken.map((item) => (stopping ? false : run(item))))
        const back = taken.filter((_, i) => !submitted[i])
        if (back.length > 0) {
          stopping = true
          // Taken after the engine closed: back to the consuming end, the oldest rightmost, for the next taker.
          mustWrite('putting items back', () => {
            const tx = redis.multi()
            for (const item of back) tx.lrem(keys.processing, 1, item)
            return tx.rpush(key, ...[...back].reverse()).exec()
          })
        }
      } catch (e) {
        if (stopping) break
        // A dropped connection or a Redis restart: ioredis reconnects; this waits and goes on.
        if (attempt === 0) report('reading the list (retrying)', e)
        await sleep(BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]!)
      }
    }
  }

  const done = loop()
  return {
    async stop() {
      stopping = true
      slotFreed?.()
      await done
      await Promise.allSettled([...writes])
      redis.disconnect()
      blocking.disconnect()
    },
  }
}

/** Finals heard before anyone waited for them (a task can end before its submit's reply is read). */
const ENDED_KEPT = 10_000

/**
 * `waitFinal` and `lookup` through an engine's API: one subscription hears every task's end, so
 * following an item costs no call of its own.
 */
export function engineTaskAccess(engine: TaskloopApi): Pick<ListConsumerOptions, 'waitFinal' | 'lookup'> & { close(): void } {
  const waiting = new Map<string, ((end: TaskEnd) => void)[]>()
  const ended = new Map<string, TaskEnd>()
  const unsubscribe = engine.subscribe((event: EngineEvent) => {
    for (const t of event.tasks) {
      if (!isFinal(t.state)) continue
      const end = { state: t.state, reason: t.reason }
      const waiters = waiting.get(t.id)
      if (waiters) {
        waiting.delete(t.id)
        for (const w of waiters) w(end)
      } else {
        ended.set(t.id, end)
        if (ended.size > ENDED_KEPT) ended.delete(ended.keys().next().value!)
      }
    }
  })
  return {
    waitFinal(id) {
      const end = ended.get(id)
      if (end) {
        ended.delete(id)
        return Promise.resolve(end)
      }
      return new Promise((resolve) => {
        const waiters = waiting.get(id)
        if (waiters) waiters.push(resolve)
        else waiting.set(id, [resolve])
      })
    },
    async lookup(id) {
      try {
        const t = await engine.get(id)
        return { state: t.state, reason: t.reason }
      } catch (e) {
        if (TaskloopError.from(e).code === 'not-found') return null
        throw e
      }
    },
    close: unsubscribe,
  }
}

/**
 * A node id for a node that consumes lists: the same across restarts of one data folder (its
 * processing lists are found again) and different for two Taskloops on one machine: the host
 * name plus the folder's hash. Without a data folder, the host name and pid (`--node-id` names a
 * node that should find its items again).
 */
export const defaultNodeId = (dataDir: string | undefined): string =>
  dataDir ? `${hostname()}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}` : `${hostname()}-${process.pid}`

export interface ListsOptions {
  /** redis:// or rediss:// URL (with a password, never logged). */
  redis: string
  nodeId: string
  lists: string[]
  listJob: string | null
  onError: (error: Error) => void
}

/**
 * `taskloop serve --redis URL --redis-list KEY …` on its own: a consumer per list, on connections
 * of its own, submitting to `engine`. Items in flight per list: the limit of the list job's executor.
 */
export async function consumeLists(engine: TaskloopApi, o: ListsOptions): Promise<ListConsumer> {
  const { Redis } = await import('ioredis')
  const access = engineTaskAccess(engine)
  const executor = o.listJob === null ? 'loop' : executorOf({ job: o.listJob })
  const maxInFlight = (await engine.stats()).pools[executor].limit
  let down = false
  const consumers = o.lists.map((key) => {
    // Commands wait through an outage (null) instead of failing after 20 tries; reconnects back off to 2 s.
    const redis = new Redis(o.redis, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 100, 2000) })
    // ioredis says every failed reconnect: one line per outage is enough.
    redis.on('error', (e: Error) => {
      if (down) return
      down = true
      o.onError(new Error(`redis list "${key}": Redis unreachable (${e.message}); reconnecting`))
    })
    redis.on('ready', () => (down = false))
    return startListConsumer({
      redis,
      nodeId: o.nodeId,
      key,
      listJob: o.listJob,
      submit: async (spec) => (await engine.submit(spec)).ids[0]!,
      ...access,
      onError: o.onError,
      maxInFlight,
    })
  })
  return {
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()))
      access.close()
    },
  }
}
