// A Taskloop node in a cluster (docs/ARCHITECTURE.md, "The cluster layer"): the
// engine's handle, decorated. BullMQ on Redis does the distributing: one BullMQ Worker per served
// queue hands each job to this node's own engine as a cluster task (Engine.submitWith: same id as
// the job, validated like any submit, same states, cancel ladder, progress and logs). A spec with
// `queue` goes to BullMQ instead of the engine. Every node publishes its cluster tasks' changes
// and log lines on `taskloop:events`, so each node's list, snapshot and event stream show the
// whole cluster. Runs in the host (serve, Electron main), never in the engine thread; loaded only
// when a node is started with --redis.
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { Job, Queue, UnrecoverableError, Worker, type JobsOptions, type WorkerOptions } from 'bullmq'
import { Redis } from 'ioredis'
import { LOOP_LIMIT } from '../common/defaults'
import { nodeIdSchema, parseSubmitSpec, parseTaskId, parseWaitOptions, queueNameSchema } from '../common/schema'
import {
  EXECUTORS,
  isFinal,
  TASK_STATES,
  TaskloopError,
  type BatchSnapshot,
  type CancelAllOptions,
  type ClusterInfo,
  type ClusterSettings,
  type ClusterSettingsUpdate,
  type ClusterNode,
  type ClusterQueue,
  type Counters,
  type EngineEvent,
  type ExecutorKind,
  type HistoryQuery,
  type Limits,
  type ListQuery,
  type LogLine,
  type QuitOptions,
  type Snapshot,
  type Stats,
  type SubmitSpec,
  type TaskDetail,
  type TaskSnapshot,
  type TaskSpec,
  type TaskState,
  type WaitOptions,
} from '../common/types'
import type { ClusterRun, ClusterSubmit, ClusterSubmitted, EngineHandle, ShutdownOptions, ShutdownReport } from '../engine/handle'
import { PerTurn } from './per-turn'
import { startListConsumer, type TaskEnd } from './redis-list'
import { executorOf } from '../engine/submit-plan'
import { parseRedisUrl, type RedisAddress } from './redis-url'
import { fromChanges, isNewer, packChanges, queuedSnapshot, RemoteTasks, taskChanges, unpackChanges, type TaskChanges } from './view'

export const DEFAULT_QUEUE = 'taskloop'
/** BullMQ's stalled check and job lock: seconds, not its default minute, so a dead node's job moves on soon. */
export const STALLED_INTERVAL_MS = 5000
export const HEARTBEAT_MS = 2000
/**
 * Jobs one node takes from each queue at once while all it took run: as many as its loop executor
 * runs at once. More jobs out per node make every per-call cost of a job's way (the engine's
 * submit and finals calls, their store writes, the published messages, BullMQ's pipelined
 * moveToFinished writes) shared by more jobs: the cluster bench's CPU per task on both nodes fell
 * ~12-20% from 64 (main and engine threads alike, A/B run side by side).
 */
const MAX_CONCURRENCY = LOOP_LIMIT
/**
 * While any job it took waits in its engine (its executor full: thread or process jobs), a node
 * takes no more than this: jobs it holds but cannot start yet are jobs another node could run.
 */
const BUSY_CONCURRENCY = 64
/** Unfinished remote tasks looked up in BullMQ at once after a lost subscription (refreshRemote). */
const REFRESH_AT_ONCE = 2000
/** Publishes of one node's cluster-task changes are coalesced this long. */
const PUBLISH_MS = 10
/** Ids cancelled cluster-wide are remembered this long (a job re-delivered later than that is unlikely). */
const CANCELLED_KEEP_MS = 7 * 86_400_000
/** BullMQ keeps this many finished jobs per queue (recent results); each node's store keeps its full history. */
const KEEP_COMPLETED = 1000
const KEEP_FAILED = 5000
/** A stalled job is re-delivered this many times before BullMQ fails it (a job that kills every node it runs on). */
const MAX_STALLED = 5
/** Priorities map to BullMQ's 1 (first) … 2,097,152: Taskloop's higher-first -1e6 … 1e6 becomes 2,000,001 … 1. */
const PRIORITY_BASE = 1_000_001
/** Cancels sent to Redis at once by a cluster-wide cancel all. */
const CANCEL_ALL_AT_ONCE = 64
/** Ids of cluster tasks this node ran, remembered to keep the view's order of news right. */
const RAN_HERE_KEPT = 50_000

export const KEYS = {
  node: (id: string) => `taskloop:node:${id}`,
  nodes: 'taskloop:nodes',
  cancelled: 'taskloop:cancelled',
  cancel: 'taskloop:cancel',
  events: 'taskloop:events',
} as const

export interface ClusterOptions {
  redis: string
  /** Default: host name and pid. */
  nodeId?: string
  /** BullMQ queues this node serves (default ["taskloop"]); empty: it only submits. */
  queues?: string[]
  /** Executors this node runs for the cluster (--queue-allow); default all. */
  queueAllow?: ExecutorKind[]
  /** Redis lists this node consumes (--redis-list, cluster/redis-list.ts). */
  lists?: string[]
  listJob?: string
  /** BullMQ's stalledInterval and lockDuration (default 5 s). */
  stalledIntervalMs?: number
  /** How often the node's heartbeat is written (default 2 s); it lapses after three. */
  heartbeatMs?: number
  /** Jobs taken at once per served queue; default 256 (the loop executor's limit), 64 while some of them wait in the engine. */
  concurrency?: number
  /**
   * `own`: the view holds only the cluster tasks this node submitted or runs (`taskloop run
   * --redis`, which waits for its own tasks); default `cluster`: every node's.
   */
  view?: 'cluster' | 'own'
  /** Where the node says what the operator should know (Redis lost and back); default stderr. */
  say?: (line: string) => void
}

export interface ClusterNodeHandle extends EngineHandle {
  readonly nodeId: string
  /** Leaves the cluster: workers closed, heartbeat removed, connections closed. The engine is not stopped. */
  leave(): Promise<void>
}

/** What a BullMQ job of Taskloop carries. */
interface JobData {
  spec: TaskSpec
  submittedBy: string
  submittedAt: number
}

/** One message on `taskloop:events`. */
interface ClusterEvents {
  node: string
  /**
   * Each as what differs from the snapshot every node makes of its id, queue, time and spec
   * (taskChanges), less what all of them share, which `same` says once (packChanges).
   */
  same?: Record<string, unknown>
  tasks: Record<string, unknown>[]
  logs: { id: string; lines: LogLine[] }[]
}

/** A cluster task this node runs: the processor waits for its final snapshot. */
interface Running {
  settle(snap: TaskSnapshot): void
  /** Its final snapshot went out already (the processor's, or an event batch's that came first): not sent again. */
  toldFinal?: boolean
  /** Its submit to the engine, until which the engine does not know the id (a read waits for it: get). */
  submitted?: Promise<unknown>
}

/** A job's start in this node's engine, under way (begin). */
interface Begun {
  entry: Running
  /** Its final snapshot. */
  final: Promise<TaskSnapshot>
  /** The engine took it, refused it, or its id was cancelled already. */
  taken: Promise<ClusterSubmitted | 'cancelled'>
}

export async function joinCluster(engine: EngineHandle, options: ClusterOptions): Promise<ClusterNodeHandle> {
  const node = new ClusterNodeImpl(engine, options)
  await node.start()
  return node
}

class ClusterNodeImpl implements ClusterNodeHandle {
  readonly nodeId: string
  private readonly address: RedisAddress
  private readonly served: string[]
  private readonly allow: ExecutorKind[] | undefined
  private readonly stalledMs: number
  private readonly heartbeatMs: number
  private readonly say: (line: string) => void
  /** Commands, publishes and BullMQ producers: fails fast while Redis is unreachable (the caller is told). */
  private readonly cmd: Redis
  /** Pub/sub: the cancel relay and the cluster's task events. */
  private readonly sub: Redis
  /** BullMQ workers: waits for Redis, whatever long (maxRetriesPerRequest null, as BullMQ requires). */
  private readonly workerConn: Redis
  private readonly producers = new Map<string, Queue>()
  private readonly workers: Worker[] = []
  private readonly lists: { stop(): Promise<void> }[] = []
  private readonly listConns: Redis[] = []
  private readonly remote = new RemoteTasks()
  private readonly running = new Map<string, Running>()
  /** Jobs begun the moment their worker took them (NodeWorker), until their processor is called. */
  private readonly begun = new Map<string, Begun>()
  /** Cluster tasks this node's engine ran (or runs): its engine's snapshot of them is the view's, unless a newer word comes from elsewhere. */
  private readonly ranHere = new Set<string>()
  /** Cluster tasks this node took that wait in its engine (pending: an executor or group full): the workers then take fewer jobs (fitConcurrency). */
  private readonly waitingHere = new Set<string>()
  /** Queues this node submitted to or heard of: their counts are in cluster(). */
  private readonly knownQueues = new Set<string>()
  private readonly listeners = new Set<(e: EngineEvent) => void>()
  /** Blocking reads of remote tasks (get with waitMs), woken when their task changes. */
  private readonly remoteWaits = new Map<string, Set<() => void>>()
  private readonly idPrefix = `q${randomBytes(4).toString('hex')}`
  /** How this node's own `taskloop:events` messages begin (flushNow: `node` is their first field). */
  private readonly ownEvents: Buffer
  private nextId = 0
  /** This node's own event seq: engine batches and the cluster's changes in one order. */
  private seq = 0
  private innerSeq = 0
  private counters: Counters | null = null
  private unsubscribe: (() => void) | null = null
  private outTasks = new Map<string, TaskSnapshot>()
  private outLogs: { id: string; lines: LogLine[] }[] = []
  private publishTimer: NodeJS.Timeout | null = null
  private flushImmediate: NodeJS.Immediate | null = null
  /**
   * Whether ids are in `taskloop:cancelled`, looked at the end of the turn that took their jobs:
   * in this node's copy of the set when it holds it whole (cancelledHere), else the checks of one
   * turn as one ZMSCORE.
   */
  private readonly cancelChecks = new PerTurn<string, boolean>((ids) => this.cancelledAmong(ids))
  /**
   * `taskloop:cancelled` as this node knows it (id → when), or null while it may miss some: read
   * whole once the relay's subscription is (re)made, then fed by the relay, which every cancel
   * publishes in the same transaction as its ZADD. A job's cancel check is then no round trip.
   */
  private cancelledHere: Map<string, number> | null = null
  /** Ids relayed while the set is being read (they may be newer than the read). */
  private cancelledRelayed: Map<string, number> | null = null
  private cancelledSync = 0
  private cancelledPruneAt = 0
  /**
   * The jobs taken in one turn, at its end: their cancel checks, then the ones not cancelled to the
   * engine as one call (one store write). One deferral for both, not one each; a lone job on an
   * idle node is not deferred behind the turn's other I/O (soonWhenIdle). While one such call is
   * out, the jobs taken meanwhile wait for its answer and go as the next (oneAtATime): a busy
   * node's engine thread is woken, and writes its store, once per round trip rather than per turn.
   */
  private readonly starts = new PerTurn<ClusterSubmit, ClusterSubmitted | 'cancelled'>(async (items) => {
    const cancelled = await this.cancelledAmong(items.map((i) => i.run.id))
    const go = items.filter((_, k) => !cancelled[k])
    const out = go.length > 0 ? await this.engine.submitManyWith(go) : []
    let n = 0
    return items.map((_, k) => (cancelled[k] ? 'cancelled' : out[n++]!))
  }, { soonWhenIdle: true, oneAtATime: true })
  /** The tasks started in one turn, followed to their final states together (followFinals). */
  private toFollow: string[] = []
  private heartbeat: NodeJS.Timeout | null = null
  private refreshing = false
  private connected = false
  private error: string | null = null
  private leaving = false
  private leavePromise: Promise<void> | null = null
  private shutdownPromise: Promise<ShutdownReport> | null = null
  private readonly options: ClusterOptions

  constructor(
    private readonly engine: EngineHandle,
    options: ClusterOptions,
  ) {
    this.address = parseRedisUrl(options.redis)
    this.nodeId = options.nodeId ?? `${os.hostname()}-${process.pid}`
    this.ownEvents = Buffer.from(`${JSON.stringify({ node: this.nodeId }).slice(0, -1)},`)
    if (!nodeIdSchema.safeParse(this.nodeId).success) throw new Error('--node-id: letters, digits, ".", "_" or "-", at most 100')
    this.served = options.queues ?? [DEFAULT_QUEUE]
    for (const q of this.served) {
      if (!queueNameSchema.safeParse(q).success) throw new Error(`--queue ${q}: letters, digits, ".", "_" or "-"`)
      this.knownQueues.add(q)
    }
    this.allow = options.queueAllow
    this.stalledMs = options.stalledIntervalMs ?? STALLED_INTERVAL_MS
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS
    this.say = options.say ?? ((line) => void process.stderr.write(`${line}\n`))
    const base = { ...this.address.options, connectionName: `taskloop:${this.nodeId}` }
    this.cmd = new Redis({ ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    this.sub = new Redis({ ...base, maxRetriesPerRequest: null })
    // Auto-pipelined: the jobs settled in one turn (finals answer many at once) go to Redis as one
    // write of their moveToFinished scripts, not one each (SentAtOnce: what is not).
    this.workerConn = new Redis({ ...base, maxRetriesPerRequest: null, enableAutoPipelining: true, autoPipeliningIgnoredCommands: new SentAtOnce() })
    this.watchConnection()
    for (const c of [this.sub, this.workerConn]) c.on('error', () => {}) // told once, through cmd's state
    this.options = options
  }

  async start(): Promise<void> {
    // The engine's stream, once: this node's cluster tasks are published from it, and every
    // subscriber of this handle hears it renumbered together with the cluster's changes.
    let first!: () => void
    const ready = new Promise<void>((r) => (first = r))
    this.unsubscribe = this.engine.subscribe((e) => {
      this.onEngineEvent(e)
      first()
    })
    await ready
    // Commands fail fast while Redis is away: the first ones wait for it a little (a node also
    // starts without Redis, and says so).
    if (!this.connected) await Promise.race([new Promise((r) => this.cmd.once('ready', r)), sleep(5000)])
    // A job's ctx.submit of a queued spec comes here through the engine.
    this.engine.onQueuedSubmit((spec) => this.submit(spec))
    // The log lines of every cluster task this node runs, published: one stream from the engine,
    // not a subscription per task.
    this.engine.followClusterLogs((logs) => {
      for (const l of logs) this.outLogs.push(l)
      this.schedulePublish()
    })
    // As bytes: this node hears its own `taskloop:events` messages too, and skips them undecoded.
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (message.length >= this.ownEvents.length && message.compare(this.ownEvents, 0, this.ownEvents.length, 0, this.ownEvents.length) === 0) return
      this.onMessage(channel.toString(), message.toString())
    })
    // Until the subscription is back and the set read again, a relayed id may have been missed.
    this.sub.on('close', () => {
      this.cancelledSync++
      this.cancelledHere = null
      this.cancelledRelayed = null
    })
    this.sub.on('ready', () => void this.syncCancelled())
    // Subscribed before the node takes jobs or reads the queues (loadQueued): a change published
    // after that read reaches this node, so no task stays in its view as it was read. Bounded: a
    // node also starts without Redis.
    await Promise.race([this.syncCancelled(), sleep(5000)])
    for (const name of this.served) this.workers.push(this.startWorker(name))
    const o = this.options
    // Items in flight per list: as many as the list job's executor runs at once (back-pressure stays in Redis).
    const maxInFlight = o.lists?.length ? (await this.engine.stats()).pools[o.listJob ? executorOf({ job: o.listJob }) : 'loop'].limit : 0
    for (const key of o.lists ?? []) {
      const redis = new Redis({ ...this.address.options, maxRetriesPerRequest: null })
      redis.on('error', () => {})
      this.listConns.push(redis)
      this.lists.push(
        startListConsumer({
          redis,
          nodeId: this.nodeId,
          key,
          listJob: o.listJob ?? null,
          submit: (spec, meta) => this.runHere(spec, meta.queue),
          waitFinal: (id) => this.finalState(id),
          lookup: async (id) => {
            try {
              const t = await this.engine.get(id)
              return { state: t.state, reason: t.reason }
            } catch (e) {
              if (TaskloopError.from(e).code === 'not-found') return null
              throw e
            }
          },
          maxInFlight,
          onError: (e) => this.say(`Redis list ${key}: ${this.address.redact(e.message)}`),
        }),
      )
    }
    this.beat()
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs)
    this.heartbeat.unref()
    void this.loadQueued()
  }

  // ---- the operations: cluster tasks in, the rest to the engine ----

  async submit(input: SubmitSpec): Promise<{ ids: string[]; batchId?: string }> {
    if (!hasQueue(input)) return this.engine.submit(input)
    const spec = parseSubmitSpec(input)
    const tasks = 'batch' in spec ? spec.batch.tasks : [spec]
    if ('batch' in spec) {
      const { name: _n, tasks: _t, ...options } = spec.batch
      const extra = Object.keys(options)[0]
      if (extra) throw new TaskloopError('invalid', `batch.${extra}: a batch of queued tasks has no batch options (BullMQ runs each task on its own)`, `batch.${extra}`)
    }
    tasks.forEach((t, i) => {
      const at = 'batch' in spec ? `batch.tasks.${i}.` : ''
      if (t.queue === undefined) throw new TaskloopError('invalid', `${at}queue: in a batch with queued tasks, every task names its queue`, `${at}queue`)
      if (t.after !== undefined) throw new TaskloopError('invalid', `${at}after: a queued task cannot wait for other tasks (it may run on any node)`, `${at}after`)
    })
    const now = Date.now()
    const jobs = tasks.map((t) => {
      const { queue, ...rest } = t
      return { id: this.newId(), queue: queue!, spec: rest }
    })
    const byQueue = new Map<string, typeof jobs>()
    for (const j of jobs) {
      const list = byQueue.get(j.queue)
      if (list) list.push(j)
      else byQueue.set(j.queue, [j])
    }
    try {
      await Promise.all(
        [...byQueue].map(([name, list]) => {
          const bulk = list.map((j) => ({
            name: jobName(j.spec),
            data: { spec: j.spec, submittedBy: this.nodeId, submittedAt: now } satisfies JobData,
            opts: jobOptions(j.spec, j.id),
          }))
          // A lone job without addBulk's MULTI/EXEC wrapping: 0.1-0.2 ms less before it is in Redis.
          const one = bulk.length === 1 ? bulk[0]! : null
          return one ? this.producer(name).add(one.name, one.data, one.opts) : this.producer(name).addBulk(bulk)
        }),
      )
    } catch (e) {
      throw new TaskloopError('unavailable', `cannot queue in Redis: ${this.address.redact(e instanceof Error ? e.message : String(e))}`)
    }
    this.announceQueued(jobs.map((j) => queuedSnapshot(j.id, j.spec, j.queue, { createdAt: now })))
    return { ids: jobs.map((j) => j.id) }
  }

  async list(query?: ListQuery): Promise<TaskSnapshot[]> {
    const out = this.withRemote(await this.engine.list(query), query?.state)
    return query?.limit !== undefined ? out.slice(-query.limit) : out
  }

  history(query?: HistoryQuery): Promise<TaskSnapshot[]> {
    return this.engine.history(query)
  }

  async get(id: string, options?: WaitOptions): Promise<TaskDetail> {
    const key = parseTaskId(id)
    let remote = this.remote.tasks.get(key)
    if (!remote) {
      // Taken here before its submit returned (its queued snapshot was not shown): the engine holds it once the submit is in.
      const submitted = this.running.get(key)?.submitted
      if (submitted) await submitted.catch(() => {})
      remote = this.remote.tasks.get(key)
    }
    if (!remote && !this.ranHere.has(key)) {
      // Not this engine's either: perhaps a task another node took in a moment ago.
      const mine = await this.engine.get(id, options).catch((e: unknown) => {
        if (e instanceof TaskloopError && e.code === 'not-found') return null
        throw e
      })
      if (mine) return mine
      remote = (await this.lookUp(key)) ?? undefined
    }
    // Unknown anywhere, or taken here meanwhile: the engine answers.
    if (!remote) return this.engine.get(id, options)
    const local = this.ranHere.has(key) ? await this.engine.get(id).catch(() => null) : null
    // Running here: the engine answers (the remote copy only waits for the engine's next event batch to go).
    if (local && (this.running.has(key) || !isNewer(remote, local))) return this.engine.get(id, options)
    const { waitMs = 0 } = parseWaitOptions(options)
    const until = Date.now() + waitMs
    // A remote task changes through `taskloop:events`; a blocking read looks again at each change until it is final.
    for (;;) {
      const now = this.remote.tasks.get(key)
      // This node took it over meanwhile (it runs it now): its engine answers for the rest of the wait.
      if (!now) return this.engine.get(id, { waitMs: Math.max(0, until - Date.now()) })
      if (isFinal(now.state) || Date.now() >= until) return { ...now, log: this.remote.logTail(key), logFile: null }
      await this.remoteChange(key, until - Date.now())
    }
  }

  /**
   * Wherever the task is: running here, the engine's cancel ladder; waiting or delayed in its
   * queue, removed from it; running on another node, relayed there (`taskloop:cancel`). Its id
   * is remembered cluster-wide first, so a job re-delivered or taken meanwhile never starts.
   */
  async cancel(id: string): Promise<void> {
    const key = parseTaskId(id)
    let remote = this.remote.tasks.get(key)
    if (!remote && !this.running.has(key) && !this.ranHere.has(key)) {
      // Unknown to the engine too: perhaps a task another node took in a moment ago.
      const local = await this.engine.get(id).then(
        () => true,
        () => false,
      )
      if (!local) remote = (await this.lookUp(key)) ?? undefined
    }
    const queued = remote?.queue ?? (this.running.has(key) ? 'here' : null)
    if (queued === null || (remote && isFinal(remote.state))) return this.engine.cancel(id)
    try {
      await this.remember(key)
    } catch (e) {
      throw new TaskloopError('unavailable', `cannot cancel a cluster task while Redis is unreachable: ${this.address.redact(String(e))}`)
    }
    if (this.running.has(key)) return this.engine.cancel(key)
    // Running elsewhere: the relay went with remember(). Else it may still wait in its queue.
    if (remote?.queue && remote.state === 'pending' && !remote.queue.startsWith('list:')) {
      const job = await Job.fromId(this.producer(remote.queue), key)
      const state = job ? await job.getState() : 'unknown'
      if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children')) {
        try {
          await job.remove()
          const now = Date.now()
          this.announce([{ ...remote, state: 'cancelled', reason: 'user', cancelRequestedAt: now, endedAt: now, waiting: null }])
          return
        } catch {
          // Taken by a worker meanwhile: it runs now, so the relay reaches it.
        }
      }
    }
    // Running elsewhere, or taken by a worker meanwhile: the relay remember() published reaches it.
  }

  /** A cluster task goes to its queue again as a new task; a local one is the engine's. */
  async retry(id: string): Promise<{ id: string }> {
    const key = parseTaskId(id)
    const remote = this.remote.tasks.get(key)
    const snap = remote ?? (await this.engine.get(id).catch(() => null))
    if (!snap?.queue || snap.queue.startsWith('list:')) return this.engine.retry(id)
    if (!isFinal(snap.state)) throw new TaskloopError('conflict', `task ${id} is ${snap.state}: only a finished task (done, failed or cancelled) can be retried`)
    const { ids } = await this.submit({ ...snap.spec, queue: snap.queue })
    return { id: ids[0]! }
  }

  /** This node's tasks; with `cluster`, every unfinished cluster task too, each wherever it is. */
  async cancelAll(options?: CancelAllOptions): Promise<void> {
    await this.engine.cancelAll(options)
    if (!options?.cluster) return
    const ids = [...this.remote.tasks.values()].filter((t) => !isFinal(t.state)).map((t) => t.id)
    for (let i = 0; i < ids.length; i += CANCEL_ALL_AT_ONCE) {
      await Promise.all(ids.slice(i, i + CANCEL_ALL_AT_ONCE).map((id) => this.cancel(id).catch(() => {})))
    }
  }

  stats(): Promise<Stats> {
    return this.engine.stats()
  }

  setLimits(limits: Partial<Limits>): Promise<Limits> {
    return this.engine.setLimits(limits)
  }

  async snapshot(): Promise<Snapshot> {
    return this.merged(await this.engine.snapshot())
  }

  batch(id: string, options?: WaitOptions): Promise<BatchSnapshot> {
    return this.engine.batch(id, options)
  }

  pause(): Promise<void> {
    return this.engine.pause()
  }

  resume(): Promise<void> {
    return this.engine.resume()
  }

  setGroupLimit(group: string, limit: number | null): Promise<Record<string, number>> {
    return this.engine.setGroupLimit(group, limit)
  }

  quit(options?: QuitOptions): Promise<void> {
    return this.engine.quit(options)
  }

  forceShutdown(): Promise<void> {
    return this.engine.forceShutdown()
  }

  /** The host's settings (serve: its flags; the app answers it itself): the engine's answer. */
  clusterSettings(update?: ClusterSettingsUpdate): Promise<ClusterSettings> {
    return this.engine.clusterSettings(update)
  }

  submitWith(spec: SubmitSpec, run: ClusterRun): Promise<{ ids: string[] }> {
    return this.engine.submitWith(spec, run)
  }

  submitManyWith(items: ClusterSubmit[]): Promise<ClusterSubmitted[]> {
    return this.engine.submitManyWith(items)
  }

  finals(ids: string[], waitMs: number): Promise<{ final: TaskSnapshot[]; unknown: string[] }> {
    return this.engine.finals(ids, waitMs)
  }

  onQuitRequested(listener: (options: QuitOptions) => void): void {
    this.engine.onQuitRequested(listener)
  }

  onQueuedSubmit(): void {
    throw new Error('the cluster node takes queued submits itself')
  }

  followClusterLogs(): void {
    throw new Error('the cluster node publishes its cluster tasks\' logs itself')
  }

  escalate(): void {
    this.engine.escalate()
  }

  /**
   * The node stops taking jobs, the engine runs its shutdown, then the node leaves. A cluster job
   * stopped by the shutdown is not settled in BullMQ: its lock lapses and BullMQ hands it to
   * another node, which follows its onInterrupt (requeue: runs it; fail: fails it "interrupted").
   */
  shutdown(options?: ShutdownOptions): Promise<ShutdownReport> {
    this.shutdownPromise ??= (async () => {
      this.leaving = true
      // Bounded: with Redis unreachable a pause may wait for it.
      await Promise.race([Promise.all(this.workers.map((w) => w.pause(true).catch(() => {}))), sleep(1000)])
      try {
        return await this.engine.shutdown(options)
      } finally {
        await this.leave()
      }
    })()
    return this.shutdownPromise
  }

  async cluster(): Promise<ClusterInfo> {
    const info: ClusterInfo = {
      enabled: true,
      nodeId: this.nodeId,
      redis: this.address.shown,
      connected: this.connected,
      error: this.error,
      nodes: [],
      queues: [],
    }
    if (!this.connected) return info
    try {
      const ids = await this.cmd.smembers(KEYS.nodes)
      const beats = ids.length > 0 ? await this.cmd.mget(...ids.map(KEYS.node)) : []
      const gone: string[] = []
      ids.forEach((id, i) => {
        const node = parseNode(beats[i] ?? null)
        if (!node) return void gone.push(id)
        info.nodes.push({ ...node, self: node.id === this.nodeId })
        for (const q of node.queues) if (!q.startsWith('list:')) this.knownQueues.add(q)
      })
      // A lapsed heartbeat: the node left (or died); it leaves the view.
      if (gone.length > 0) await this.cmd.srem(KEYS.nodes, ...gone)
      info.nodes.sort((a, b) => a.id.localeCompare(b.id))
      info.queues = await Promise.all([...this.knownQueues].sort().map((name) => this.counts(name)))
      return info
    } catch (e) {
      return { ...info, connected: false, error: this.address.redact(e instanceof Error ? e.message : String(e)) }
    }
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    const entry = { live: true }
    const join = (): void => {
      this.snapshot().then(
        (snap) => {
          if (!entry.live) return
          listener(snap)
          this.listeners.add(listener)
        },
        // The engine is blocked or restarting: join when it answers.
        () => entry.live && void setTimeout(join, 500),
      )
    }
    join()
    return () => {
      entry.live = false
      this.listeners.delete(listener)
    }
  }

  subscribeLog(id: string, listener: (lines: LogLine[]) => void): () => void {
    if (this.remote.tasks.has(id)) return this.remote.subscribeLog(id, listener)
    return this.engine.subscribeLog(id, listener)
  }

  leave(): Promise<void> {
    this.leavePromise ??= this.runLeave()
    return this.leavePromise
  }

  private async runLeave(): Promise<void> {
    this.leaving = true
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.unsubscribe?.()
    // Jobs still held here are left to BullMQ's stalled check (see shutdown).
    const closing = [
      ...this.workers.map((w) => w.close(true)),
      ...this.lists.map((l) => l.stop()),
      ...[...this.producers.values()].map((q) => q.close()),
    ]
    await Promise.race([Promise.allSettled(closing), sleep(3000)])
    this.flushNow()
    await Promise.race([
      Promise.allSettled([this.cmd.multi().del(KEYS.node(this.nodeId)).srem(KEYS.nodes, this.nodeId).exec()]),
      sleep(1000),
    ])
    for (const c of [this.cmd, this.sub, this.workerConn, ...this.listConns]) c.disconnect()
  }

  // ---- running the cluster's jobs ----

  private startWorker(name: string): Worker {
    // Two parameters: BullMQ makes an AbortController per job only for a processor that takes a
    // third. The cancel relay cancels the engine's task itself (onMessage).
    const options: WorkerOptions = {
      connection: this.workerConn,
      name: this.nodeId,
      concurrency: this.options.concurrency ?? (this.waitingHere.size > 0 ? BUSY_CONCURRENCY : MAX_CONCURRENCY),
      stalledInterval: this.stalledMs,
      lockDuration: this.stalledMs,
      maxStalledCount: MAX_STALLED,
      removeOnComplete: { count: KEEP_COMPLETED },
      removeOnFail: { count: KEEP_FAILED },
    }
    const worker = new NodeWorker(name, (job) => this.process(job), options, (job) => this.taken(job))
    // Redis errors are told once, as the node's connection state; a job's error is its task's.
    worker.on('error', () => {})
    return worker
  }

  /**
   * A job this node's worker took, before BullMQ calls its processor: a first delivery goes to the
   * engine now (begin), not a Redis round trip later (NodeWorker). Not while the node leaves: a
   * closing worker may drop a job it took without calling its processor, and BullMQ then hands
   * the job to another node, so it must not have started here. A re-delivered job is checked
   * first (process).
   */
  private taken(job: Job<JobData>): void {
    const id = job.id
    if (!id || this.leaving || job.stalledCounter > 0 || job.deferredFailure || this.begun.has(id) || this.running.has(id)) return
    this.begun.set(id, this.begin(job))
  }

  /** The job as a cluster task of this node: running, its cancel check and submit to the engine under way (`starts`). */
  private begin(job: Job<JobData>): Begun {
    const id = job.id!
    let entry!: Running
    const final = new Promise<TaskSnapshot>((settle) => this.running.set(id, (entry = { settle })))
    this.takeOver(id)
    const run: ClusterRun = { id, queue: job.queueName, node: this.nodeId, attempt: attemptOf(job), ...(this.allow ? { allow: this.allow } : {}) }
    const taken = this.starts.add({ spec: specOf(job) as SubmitSpec, run }).catch((e: unknown): ClusterSubmitted => ({ ok: false, error: TaskloopError.from(e).toJSON() }))
    entry.submitted = taken
    return { entry, final, taken }
  }

  /** One job, run as a local cluster task under the job's id. */
  private async process(job: Job<JobData>): Promise<unknown> {
    const id = job.id!
    const queue = job.queueName
    const spec = specOf(job)
    const attempt = attemptOf(job)
    const ended = (fields: Partial<TaskSnapshot>): void => {
      const now = Date.now()
      this.announce([queuedSnapshot(id, spec, queue, { attempt, node: this.nodeId, startedAt: now, endedAt: now, ...fields })])
    }
    const cancelled = (): never => {
      ended({ state: 'cancelled', reason: 'user' })
      throw new UnrecoverableError('cancelled before it started')
    }
    // Re-delivered after its node stopped or died: cancelled meanwhile, it ends so; else onInterrupt
    // says whether it runs again. (A first delivery is checked with its submit: `starts`.)
    if (job.stalledCounter > 0) {
      if (await this.wasCancelled(id)) cancelled()
      if (spec?.onInterrupt !== 'requeue') {
        const message = 'the node running it stopped or died (onInterrupt "fail")'
        ended({ state: 'failed', reason: 'interrupted', error: { message } })
        throw new UnrecoverableError(message)
      }
    }
    const early = this.begun.get(id)
    if (early) this.begun.delete(id)
    const { entry, final, taken: submitted } = early ?? this.begin(job)
    const taken = await submitted
    const refused = taken === 'cancelled' || taken.ok ? null : TaskloopError.from(taken.error)
    if (taken === 'cancelled') {
      this.running.delete(id)
      cancelled()
    }
    if (refused) {
      this.running.delete(id)
      ended({ state: 'failed', reason: 'error', error: { name: 'TaskloopError', message: refused.message, code: refused.code } })
      throw new UnrecoverableError(refused.message)
    }
    // Cancelled between the check and the submit: the relay found no task yet. Its id is in the
    // node's copy of the set by then (or, while the copy is not whole, in Redis: a lost relay).
    const late = this.cancelledNow(id)
    if (late === true || (late === null && (await this.wasCancelled(id)))) void this.engine.cancel(id).catch(() => {})
    this.watchFinal(id)
    const snap = await final
    if (!this.leaving && !entry.toldFinal) {
      // Told at once, not with the engine's next event batch: a cancel or a result is seen sooner everywhere.
      this.outTasks.set(id, snap)
      entry.toldFinal = true
      this.flushSoon()
    }
    // This node is stopping: the job is left unsettled, for BullMQ to hand to another node.
    if (this.leaving && (snap.reason === 'shutdown' || snap.reason === 'interrupted')) return new Promise(() => {})
    if (snap.state === 'done') return snap.result ?? null
    if (snap.state === 'cancelled') throw new UnrecoverableError(`cancelled (${snap.reason})`)
    const message = snap.error?.message ?? `failed (${snap.reason})`
    const attempts = job.opts.attempts || 1
    if (job.attemptsMade + 1 < attempts) {
      // BullMQ runs it again (maybe elsewhere): the cluster sees it waiting, not failed.
      this.announce([{ ...snap, state: 'pending', reason: null, node: null, worker: null, waiting: 'retry-backoff', endedAt: null }])
    }
    throw new Error(message)
  }

  /** A list item (cluster/redis-list.ts): run here, published like any cluster task. */
  private async runHere(spec: SubmitSpec, queue: string): Promise<string> {
    const id = this.newId()
    const entry: Running = { settle: () => {} }
    this.running.set(id, entry)
    this.takeOver(id)
    try {
      await (entry.submitted = this.engine.submitWith(spec, { id, queue, node: this.nodeId, ...(this.allow ? { allow: this.allow } : {}) }))
    } catch (e) {
      this.running.delete(id)
      throw e
    }
    return id
  }

  /**
   * This node's engine holds the task from now on. The view's remote copy goes with the engine's
   * first event that carries the task (onEngineEvent), not before: until then the merged counters
   * would count it nowhere while a subscriber's picture holds it, and a picture holding more tasks
   * than the counters count takes a full snapshot (common/mirror.ts).
   */
  private takeOver(id: string): void {
    this.ranHere.add(id)
    if (this.ranHere.size > RAN_HERE_KEPT) for (const old of this.ranHere) if (this.ranHere.delete(old) && this.ranHere.size <= RAN_HERE_KEPT) break
  }

  /** How a list item's task ended (cluster/redis-list.ts): done, failed or cancelled, and why. */
  private async finalState(id: string): Promise<TaskEnd> {
    const entry = this.running.get(id)
    if (!entry) {
      const t = await this.untilFinal(id)
      return { state: t.state, reason: t.reason }
    }
    return new Promise((resolve) => {
      const before = entry.settle
      entry.settle = (snap) => {
        before(snap)
        resolve({ state: snap.state, reason: snap.reason })
      }
    })
  }

  /** The engine answers a blocking read the moment the task is final (its event batch comes later). */
  private async untilFinal(id: string): Promise<TaskSnapshot> {
    for (;;) {
      const { log: _l, logFile: _f, locks: _k, children: _c, ...snap } = await this.engine.get(id, { waitMs: 60_000 })
      if (isFinal(snap.state)) return snap
    }
  }

  /**
   * Whether the ids are in `taskloop:cancelled`: this node's copy answers when it holds the set
   * whole, else Redis (one ZMSCORE; unreachable: not known to be).
   */
  private cancelledAmong(ids: string[]): Promise<boolean[]> {
    const known = this.cancelledHere
    if (known) return Promise.resolve(ids.map((id) => known.has(id)))
    return this.workerConn.zmscore(KEYS.cancelled, ...ids).then(
      (scores) => scores.map((s) => s !== null),
      () => ids.map(() => false),
    )
  }

  /** Whether the id is in `taskloop:cancelled` by the node's copy, now; null while the copy is not whole. */
  private cancelledNow(id: string): boolean | null {
    return this.cancelledHere ? this.cancelledHere.has(id) : null
  }

  /**
   * Whether the id is in `taskloop:cancelled`, at the end of this turn: in the node's copy, or
   * (while it is not whole) the checks of one turn as one ZMSCORE.
   */
  private wasCancelled(id: string): Promise<boolean> {
    return this.cancelChecks.add(id)
  }

  /**
   * The engine answers a blocking read the moment a task is final (its event batch comes later):
   * the tasks started in one turn are followed by one such read at a time, not one each.
   */
  private watchFinal(id: string): void {
    if (this.toFollow.push(id) > 1) return
    setImmediate(() => {
      const ids = this.toFollow
      this.toFollow = []
      void this.followFinals(ids)
    })
  }

  private async followFinals(ids: string[]): Promise<void> {
    let left = ids
    while (left.length > 0) {
      let got: { final: TaskSnapshot[]; unknown: string[] }
      try {
        got = await this.engine.finals(left, 60_000)
      } catch {
        // The engine thread restarted or stops: the engine's events settle them (track, onEngineEvent).
        return
      }
      const gone = new Set(got.unknown)
      for (const snap of got.final) {
        gone.add(snap.id)
        this.running.get(snap.id)?.settle(snap)
      }
      // Published as soon as their processors have put them out (the continuations settle() queued
      // run first), not at the end of the turn: BullMQ's own handling of the settled jobs (each
      // job's moveToFinished or moveToFailed) comes after the message that tells the other nodes,
      // not before it. Still one message for the tasks of one answer.
      if (got.final.length > 0) queueMicrotask(() => this.flushNow())
      left = left.filter((id) => !gone.has(id) && this.running.has(id))
    }
  }

  /**
   * The id goes into `taskloop:cancelled` and out on the relay in one transaction: every node's
   * copy of the set hears of it, and the node running it (if one does) cancels it.
   */
  private async remember(id: string): Promise<void> {
    const now = Date.now()
    await this.cmd
      .multi()
      .zadd(KEYS.cancelled, now, id)
      .zremrangebyscore(KEYS.cancelled, 0, now - CANCELLED_KEEP_MS)
      .publish(KEYS.cancel, JSON.stringify({ id, at: now }))
      .exec()
  }

  /** The subscription (re)made, then `taskloop:cancelled` read whole: from then on the relay keeps the copy. */
  private async syncCancelled(): Promise<void> {
    const sync = ++this.cancelledSync
    this.cancelledHere = null
    const relayed = (this.cancelledRelayed = new Map())
    try {
      await this.sub.subscribe(KEYS.events, KEYS.cancel)
      const rows = await this.workerConn.zrange(KEYS.cancelled, '0', '-1', 'WITHSCORES')
      if (sync !== this.cancelledSync) return
      const known = new Map<string, number>()
      for (let i = 0; i + 1 < rows.length; i += 2) known.set(rows[i]!, Number(rows[i + 1]))
      for (const [id, at] of relayed) known.set(id, at)
      this.cancelledHere = known
      this.cancelledRelayed = null
      this.cancelledPruneAt = known.size * 2 + 1000
      // Subscribed again after a loss: what was published meanwhile did not reach this node.
      if (sync > 1) void this.refreshRemote()
    } catch {
      // The connection went meanwhile: its 'ready' syncs again; until then Redis is asked.
    }
  }

  /**
   * The view's unfinished tasks of BullMQ queues as their jobs say now: after the subscription was
   * lost (a Redis restart, a dropped connection), a task that started or ended meanwhile would
   * otherwise stay as the view last heard of it. Also when the command connection comes back (it
   * may come after the subscriber). A job Redis no longer holds leaves its task as it was.
   */
  private async refreshRemote(): Promise<void> {
    if (this.refreshing || !this.connected) return
    this.refreshing = true
    try {
      const stale = [...this.remote.tasks.values()].filter((t) => !isFinal(t.state) && t.queue && !t.queue.startsWith('list:')).slice(0, REFRESH_AT_ONCE)
      const jobs = await Promise.all(stale.map((t) => Job.fromId(this.producer(t.queue!), t.id).catch(() => undefined)))
      const changed: TaskSnapshot[] = []
      stale.forEach((t, i) => {
        const job = jobs[i]
        const now = job ? asJobSays(t, job) : null
        if (now && !this.running.has(t.id) && this.remote.put(now)) changed.push(now)
      })
      if (changed.length > 0) this.emit({ type: 'batch', seq: ++this.seq, tasks: changed, counters: this.mergedCounters() })
    } catch {
      // Redis went again: its return refreshes again.
    } finally {
      this.refreshing = false
    }
  }

  /** A relayed cancel: into the copy of `taskloop:cancelled` (forgotten when Redis forgets it). */
  private heardCancel(id: string, at: number): void {
    const into = this.cancelledHere ?? this.cancelledRelayed
    if (!into) return
    into.set(id, at)
    if (into === this.cancelledHere && into.size > this.cancelledPruneAt) {
      const old = Date.now() - CANCELLED_KEEP_MS
      for (const [k, when] of into) if (when < old) into.delete(k)
      this.cancelledPruneAt = into.size * 2 + 1000
    }
  }

  // ---- the stream: engine batches and the cluster's changes, one seq ----

  private onEngineEvent(e: EngineEvent): void {
    const mine: TaskSnapshot[] = []
    for (const t of e.tasks) if (t.queue && t.node === this.nodeId) mine.push(t)
    // Counted by the engine from this event on: the view's remote copy goes before the counters are merged.
    for (const t of mine) this.remote.drop(t.id)
    if (e.type === 'snapshot') {
      const restarted = this.counters !== null
      this.counters = e.counters
      this.innerSeq = e.seq
      if (restarted) {
        // A restarted engine thread: what this node ran and the new engine does not hold is lost.
        const held = new Set(mine.map((t) => t.id))
        for (const [id, r] of this.running) {
          if (!held.has(id)) r.settle(queuedSnapshot(id, {}, '', { state: 'failed', reason: 'interrupted', error: { message: 'the engine thread restarted' } }))
        }
        this.emit({ ...this.merged(e), seq: ++this.seq })
      }
    } else if (e.seq <= this.innerSeq && e.tasks.length === 0) {
      // A supervisor's notice between batches: news, no change.
      this.emit({ ...e, seq: this.seq, counters: this.mergedCounters() })
      return
    } else {
      this.innerSeq = e.seq
      this.counters = e.counters
      this.emit({ ...e, seq: ++this.seq, counters: this.mergedCounters() })
    }
    for (const t of mine) this.track(t)
    if (mine.length > 0 || e.type === 'snapshot') this.fitConcurrency(mine, e.type === 'snapshot')
  }

  /**
   * The workers take up to MAX_CONCURRENCY jobs while every job this node took runs, and up to
   * BUSY_CONCURRENCY while some wait in its engine (BullMQ's concurrency, set live: a lower one
   * takes no new job until the active ones are fewer). A fixed `concurrency` option stays as it is.
   */
  private fitConcurrency(mine: TaskSnapshot[], all: boolean): void {
    const waiting = this.waitingHere
    // A snapshot holds every task the engine has: one not in it waits no more.
    if (all) waiting.clear()
    for (const t of mine) {
      if (t.state === 'pending') waiting.add(t.id)
      else waiting.delete(t.id)
    }
    if (this.options.concurrency !== undefined) return
    const want = waiting.size > 0 ? BUSY_CONCURRENCY : MAX_CONCURRENCY
    for (const w of this.workers) if (w.concurrency !== want) w.concurrency = want
  }

  /** A change of a cluster task this node runs: published, and its processor told when it is final. */
  private track(t: TaskSnapshot): void {
    const r = this.running.get(t.id)
    let shown = t
    if (this.leaving && t.state === 'cancelled' && t.reason === 'shutdown') {
      // Stopped by this node's shutdown: BullMQ re-delivers it, so the cluster does not see it cancelled.
      shown = t.spec.onInterrupt === 'requeue'
        ? { ...t, state: 'pending', reason: null, node: null, worker: null, endedAt: null }
        : { ...t, state: 'failed', reason: 'interrupted', error: { message: 'its node stopped while it ran' } }
    }
    if (!(r?.toldFinal && isFinal(t.state))) {
      this.outTasks.set(t.id, shown)
      this.schedulePublish()
    }
    if (r && isFinal(t.state)) {
      // Heard final here before the processor was (an event batch ahead of finals): told once, here.
      r.toldFinal = true
      this.running.delete(t.id)
      r.settle(t)
    }
  }

  /** Tasks this node changed without its engine (refused, removed from a queue): shown here and published. */
  private announce(tasks: TaskSnapshot[]): void {
    for (const t of tasks) this.outTasks.set(t.id, t)
    this.show(tasks)
  }

  /**
   * Tasks this node just queued: shown here and published (as their id, queue, time and spec:
   * taskChanges), unless a newer word on one waits to go (a job can start before its submit returns).
   */
  private announceQueued(tasks: TaskSnapshot[]): void {
    for (const t of tasks) {
      const waiting = this.outTasks.get(t.id)
      if (!waiting || isNewer(t, waiting)) this.outTasks.set(t.id, t)
    }
    this.show(tasks)
  }

  /** Into this node's view (and to its subscribers) as announced; the publish follows. */
  private show(tasks: TaskSnapshot[]): void {
    const shown: TaskSnapshot[] = []
    for (const t of tasks) {
      // Already run here (a queued job can start before its submit returns): the engine's word stands.
      if (this.ranHere.has(t.id) && t.node === null && t.attempt <= 1) continue
      if (this.remote.put(t)) shown.push(t)
    }
    if (shown.length > 0) this.emit({ type: 'batch', seq: ++this.seq, tasks: shown, counters: this.mergedCounters() })
    this.schedulePublish()
  }

  private schedulePublish(): void {
    if (this.publishTimer) return
    this.publishTimer = setTimeout(() => this.flushNow(), PUBLISH_MS)
  }

  /** Published at the end of this turn: the jobs settled in one turn go as one message. */
  private flushSoon(): void {
    if (this.flushImmediate) return
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = null
      this.flushNow()
    })
  }

  private flushNow(): void {
    if (this.publishTimer) clearTimeout(this.publishTimer)
    this.publishTimer = null
    if (this.outTasks.size === 0 && this.outLogs.length === 0) return
    const tasks = this.outTasks
    // `node` first: a node skips its own messages by their first bytes (ownEvents).
    const message: ClusterEvents = { node: this.nodeId, ...packChanges([...tasks.values()].map(taskChanges)), logs: this.outLogs }
    this.outTasks = new Map()
    this.outLogs = []
    // Refused while Redis is unreachable: the tasks go out again with the next publish (at the
    // latest when Redis is back), unless a newer word on them is already waiting; log lines are dropped.
    this.cmd.publish(KEYS.events, JSON.stringify(message)).catch(() => {
      for (const [id, t] of tasks) if (!this.outTasks.has(id)) this.outTasks.set(id, t)
    })
  }

  private onMessage(channel: string, message: string): void {
    let value: unknown
    try {
      value = JSON.parse(message)
    } catch {
      return
    }
    if (channel === KEYS.cancel) {
      const { id, at } = (value ?? {}) as { id?: unknown; at?: unknown }
      if (typeof id !== 'string') return
      this.heardCancel(id, typeof at === 'number' ? at : Date.now())
      // A job taken but not yet in the engine: its processor's check after the submit finds the id.
      if (this.running.has(id)) void this.engine.cancel(id).catch(() => {})
      return
    }
    const events = parseEvents(value)
    if (!events || events.node === this.nodeId) return
    const changed: TaskSnapshot[] = []
    const ownOnly = this.options.view === 'own'
    for (const t of events.tasks) {
      if (this.running.has(t.id) || (ownOnly && !this.remote.tasks.has(t.id))) continue
      if (this.ranHere.has(t.id) && t.node === null && t.attempt <= 1) continue
      if (!this.remote.put(t)) continue
      changed.push(t)
      if (t.queue && !t.queue.startsWith('list:')) this.knownQueues.add(t.queue)
    }
    // Lines of tasks the view does not hold are dropped there (RemoteTasks.appendLog).
    for (const l of events.logs) this.remote.appendLog(l.id, l.lines)
    if (changed.length > 0) this.emit({ type: 'batch', seq: ++this.seq, tasks: changed, counters: this.mergedCounters() })
  }

  private emit(e: EngineEvent): void {
    // Remote tasks the view let go of leave every subscriber's picture with the next batch.
    const gone = this.remote.takeForgotten()
    if (gone && e.type === 'batch') e = { ...e, forgot: e.forgot ? [...e.forgot, ...gone] : gone }
    for (const l of this.listeners) l(e)
    if (this.remoteWaits.size > 0) {
      for (const t of e.tasks) {
        const wake = this.remoteWaits.get(t.id)
        if (wake) for (const w of wake) w()
      }
    }
  }

  /** Resolves when the remote task changes, or after `ms`. */
  private remoteChange(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.remoteWaits.get(id) ?? new Set()
      this.remoteWaits.set(id, set)
      const done = (): void => {
        clearTimeout(timer)
        set.delete(done)
        if (set.size === 0) this.remoteWaits.delete(id)
        resolve()
      }
      const timer = setTimeout(done, ms)
      set.add(done)
    })
  }

  private mergedCounters(): Counters {
    const c = { ...this.counters! }
    for (const s of TASK_STATES) c[s] += this.remote.counters[s]
    return c
  }

  /** The engine's snapshot with the cluster's tasks in it (a remote copy wins: it is the newer word on a re-run). */
  private merged(inner: Snapshot): Snapshot {
    return { ...inner, seq: this.seq, tasks: this.withRemote(inner.tasks), counters: this.mergedCounters() }
  }

  /** The engine's tasks and the remote ones, one per id: the later word on a task wins (a re-run elsewhere). */
  private withRemote(local: TaskSnapshot[], state?: TaskState): TaskSnapshot[] {
    if (this.remote.tasks.size === 0) return local
    const out: TaskSnapshot[] = []
    const taken = new Set<string>()
    for (const t of local) {
      const r = this.remote.tasks.get(t.id)
      if (r && isNewer(r, t)) continue
      if (r) taken.add(t.id)
      out.push(t)
    }
    for (const t of this.remote.tasks.values()) if (!taken.has(t.id) && (!state || t.state === state)) out.push(t)
    return out
  }

  /**
   * A cluster task this node has not heard of yet, from its job: its "queued" message may still be
   * on the way (a task submitted on another node a moment ago), or was lost. Looked for in the
   * queues this node knows, then in those the nodes' heartbeats name; shown to every subscriber
   * once found. Null: no such job, or this node runs it now (its engine answers).
   */
  private async lookUp(key: string): Promise<TaskSnapshot | null> {
    if (!this.connected) return null
    const tried = new Set<string>()
    for (let round = 0; round < 2; round++) {
      // Then the queues the other nodes serve, as their heartbeats say.
      if (round === 1) await this.learnQueues().catch(() => {})
      for (const name of [...this.knownQueues]) {
        if (tried.has(name) || name.startsWith('list:')) continue
        tried.add(name)
        const found = await this.fromJob(name, key)
        if (found !== undefined) return found
      }
    }
    return null
  }

  /** Adds the queues every live node serves to knownQueues. */
  private async learnQueues(): Promise<void> {
    const ids = await this.cmd.smembers(KEYS.nodes)
    const beats = ids.length > 0 ? await this.cmd.mget(...ids.map(KEYS.node)) : []
    for (const beat of beats) for (const q of parseNode(beat ?? null)?.queues ?? []) if (!q.startsWith('list:')) this.knownQueues.add(q)
  }

  /** lookUp in one queue: undefined when it has no such job. */
  private async fromJob(name: string, key: string): Promise<TaskSnapshot | null | undefined> {
    const job = await Job.fromId(this.producer(name), key).catch(() => undefined)
    if (!job?.id) return undefined
    // Heard meanwhile (or taken here): the view's word stands.
    const known = this.remote.tasks.get(key)
    if (known || this.running.has(key)) return known ?? null
    const queued = queuedSnapshot(job.id, (job.data as Partial<JobData>)?.spec, name, { createdAt: job.timestamp })
    const now = asJobSays(queued, job) ?? queued
    if (this.remote.put(now)) this.emit({ type: 'batch', seq: ++this.seq, tasks: [now], counters: this.mergedCounters() })
    return now
  }

  /** Jobs already in the served queues when this node joins: the view starts with them. */
  private async loadQueued(): Promise<void> {
    try {
      for (const name of this.served) {
        const jobs = await this.producer(name).getJobs(['active', 'waiting', 'delayed', 'prioritized'], 0, 999)
        const snaps: TaskSnapshot[] = []
        for (const job of jobs) {
          if (!job?.id || this.running.has(job.id) || this.remote.tasks.has(job.id)) continue
          const active = job.processedOn !== undefined && job.finishedOn === undefined
          snaps.push(
            queuedSnapshot(job.id, (job.data as Partial<JobData>)?.spec, name, {
              createdAt: job.timestamp,
              ...(active ? { state: 'running', startedAt: job.processedOn ?? null, node: job.processedBy ?? null } : {}),
            }),
          )
        }
        if (snaps.length > 0) {
          for (const s of snaps) this.remote.put(s)
          this.emit({ type: 'batch', seq: ++this.seq, tasks: snaps, counters: this.mergedCounters() })
        }
      }
    } catch {
      // Redis unreachable at the start: the view fills as tasks change.
    }
  }

  // ---- Redis: connection state, heartbeat, queues ----

  private watchConnection(): void {
    this.cmd.on('ready', () => {
      const back = !this.connected && this.error !== null
      if (back) this.say(`Redis ${this.address.shown} reachable again`)
      this.connected = true
      this.error = null
      if (back) {
        void this.refreshRemote()
        this.flushSoon()
      }
    })
    const lost = (why: string): void => {
      const was = this.connected || this.error === null
      this.connected = false
      this.error = this.address.redact(why)
      if (was && !this.leaving) this.say(`Redis ${this.address.shown} unreachable: ${this.error}; retrying`)
    }
    this.cmd.on('error', (e: Error) => lost(e.message || String(e)))
    this.cmd.on('close', () => {
      if (this.connected) lost('connection closed')
    })
  }

  private beat(): void {
    void (async () => {
      const stats = await this.engine.stats().catch(() => null)
      const limits = Object.fromEntries(EXECUTORS.map((k) => [k, stats?.pools[k].limit ?? 0])) as Limits
      const running = Object.fromEntries(EXECUTORS.map((k) => [k, stats?.pools[k].running ?? 0])) as Record<ExecutorKind, number>
      const node: Omit<ClusterNode, 'self'> = {
        id: this.nodeId,
        host: os.hostname(),
        pid: process.pid,
        queues: [...this.served, ...(this.options.lists ?? []).map((k) => `list:${k}`)],
        limits,
        running,
        heartbeatAt: Date.now(),
      }
      if (!this.connected || this.leaving) return
      await this.cmd
        .multi()
        .set(KEYS.node(this.nodeId), JSON.stringify(node), 'PX', this.heartbeatMs * 3)
        .sadd(KEYS.nodes, this.nodeId)
        .exec()
    })().catch(() => {})
  }

  private producer(name: string): Queue {
    let q = this.producers.get(name)
    if (!q) {
      q = new Queue(name, { connection: this.cmd })
      q.on('error', () => {})
      this.producers.set(name, q)
      this.knownQueues.add(name)
    }
    return q
  }

  private async counts(name: string): Promise<ClusterQueue> {
    const c = await this.producer(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')
    return {
      name,
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      prioritized: c.prioritized ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    }
  }

  private newId(): string {
    return `${this.idPrefix}-${(++this.nextId).toString(36)}`
  }
}

/**
 * BullMQ's Worker, telling the node of each job the moment Redis hands it over. Above concurrency
 * 1, a Worker that took a job asks Redis for the next one and waits for that answer before it
 * calls the processor with the first (on an idle queue, a round trip that brings nothing): the
 * job's start in the engine need not wait for it (ClusterNodeImpl.taken).
 */
class NodeWorker extends Worker<JobData> {
  constructor(
    name: string,
    processor: (job: Job<JobData>) => Promise<unknown>,
    options: WorkerOptions,
    private readonly onTaken: (job: Job<JobData>) => void,
  ) {
    super(name, processor, options)
  }

  protected override async moveToActive(token: string, name?: string): Promise<Job<JobData>> {
    const job = await super.moveToActive(token, name)
    if (job) this.onTaken(job)
    return job
  }
}

/**
 * The commands of BullMQ's workers' connection that go out at once, not auto-pipelined: its
 * blocking wait for a job (on its duplicate of the connection: a command pipelined behind it
 * would wait for a job), and moveToActive, which takes the job after that wait (pipelined, a
 * lone job's start would wait for the end of the turn). ioredis asks this list with includes();
 * BullMQ's scripts carry its version in their names (`moveToActive:6.7.0`).
 */
class SentAtOnce extends Array<string> {
  override includes(name: string): boolean {
    return name === 'bzpopmin' || name.startsWith('moveToActive:')
  }
}

/** A spec that names a queue anywhere (checked before parsing: a local spec goes to the engine untouched). */
function hasQueue(input: unknown): boolean {
  if (!input || typeof input !== 'object') return false
  if ('queue' in input) return true
  const tasks = (input as { batch?: { tasks?: unknown } }).batch?.tasks
  return Array.isArray(tasks) && tasks.some((t) => !!t && typeof t === 'object' && 'queue' in t)
}

const specOf = (job: Job<JobData>): TaskSpec | undefined => (job.data as Partial<JobData> | undefined)?.spec

/** The attempt a job's delivery is: BullMQ counts the starts (a stalled job's re-delivery too). */
const attemptOf = (job: Job<JobData>): number => Math.max(1, job.attemptsStarted || job.attemptsMade + 1)

const jobName = (spec: TaskSpec): string => ('job' in spec ? spec.job : 'command')

/**
 * Retries, backoff, priority and delay are BullMQ's. Only what differs from BullMQ's defaults: the
 * options are stored in the job and read back with it each time a worker takes it. How many finished
 * jobs are kept is the workers' option (startWorker), which BullMQ applies to a job that says nothing.
 */
function jobOptions(spec: TaskSpec, id: string): JobsOptions {
  return {
    jobId: id,
    ...(spec.retries ? { attempts: spec.retries + 1 } : {}),
    ...(spec.retryDelayMs ? { backoff: { type: 'exponential', delay: spec.retryDelayMs } } : {}),
    ...(spec.priority !== undefined ? { priority: PRIORITY_BASE - spec.priority } : {}),
    ...(spec.delayMs ? { delay: spec.delayMs } : {}),
  }
}

/** A heartbeat as another node wrote it (outside data: shape-checked, else the node is ignored). */
function parseNode(raw: string | null): Omit<ClusterNode, 'self'> | null {
  if (!raw) return null
  try {
    const n = JSON.parse(raw) as Omit<ClusterNode, 'self'>
    if (typeof n.id !== 'string' || !Array.isArray(n.queues) || typeof n.heartbeatAt !== 'number') return null
    return n
  } catch {
    return null
  }
}

/** A `taskloop:events` message, its tasks as snapshots (outside data: what does not look like a task is dropped). */
function parseEvents(value: unknown): { node: string; tasks: TaskSnapshot[]; logs: ClusterEvents['logs'] } | null {
  const v = value as Partial<ClusterEvents> | null
  if (!v || typeof v.node !== 'string' || !Array.isArray(v.tasks) || !Array.isArray(v.logs)) return null
  const same = v.same && typeof v.same === 'object' ? v.same : undefined
  const tasks: TaskSnapshot[] = []
  for (const c of v.tasks as unknown[]) {
    if (!c || typeof c !== 'object') continue
    const x = unpackChanges(same, c as Record<string, unknown>) as Partial<TaskChanges>
    if (!x || typeof x.id !== 'string' || typeof x.queue !== 'string' || typeof x.createdAt !== 'number' || !x.spec || typeof x.spec !== 'object') continue
    const t = fromChanges(x as TaskChanges)
    if ((TASK_STATES as readonly string[]).includes(t.state) && typeof t.name === 'string' && Array.isArray(t.attempts)) tasks.push(t)
  }
  const logs = v.logs.filter((l) => !!l && typeof l.id === 'string' && Array.isArray(l.lines))
  return { node: v.node, tasks, logs }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)))

/**
 * A cluster task as its BullMQ job says it is now: ended (done, cancelled, failed) or started;
 * null when the job says nothing newer than `t`. A task waiting for its retry has its last attempt's
 * processedOn: not running yet.
 */
function asJobSays(t: TaskSnapshot, job: Job): TaskSnapshot | null {
  const ran = { node: job.processedBy ?? t.node ?? null, startedAt: job.processedOn ?? t.startedAt }
  if (job.finishedOn !== undefined && job.finishedOn !== null) {
    const reason = job.failedReason
    const ended = { ...ran, endedAt: job.finishedOn, waiting: null }
    if (!reason) return { ...t, ...ended, state: 'done', reason: null, result: (job.returnvalue as unknown) ?? null }
    if (reason.startsWith('cancelled')) return { ...t, ...ended, state: 'cancelled', reason: 'user' }
    return { ...t, ...ended, state: 'failed', reason: 'error', error: { message: reason } }
  }
  if (job.processedOn && t.state === 'pending' && !t.waiting) return { ...t, ...ran, state: 'running', waiting: null }
  return null
}

