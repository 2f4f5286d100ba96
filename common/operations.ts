// Every request/response operation of the TaskloopApi, declared once: its arguments and result
// (the method's signature), the parser the engine applies to its arguments, and how it travels
// over HTTP; its IPC channel and engine-thread call are its name. The transports (engine-thread
// proxy, IPC handlers, preload bridge, the renderer's Electron and HTTP clients, HTTP routes) are
// derived from this table by the generic code below, the way VS Code's ProxyChannel builds both
// ends of a channel from one interface. The engine's parse is the one validation; a transport
// only decodes (docs/ARCHITECTURE.md, "How an operation travels"; the README lists the HTTP routes).
// Type-only imports: the sandboxed preload bundles this file and may require nothing but 'electron'.
import type * as Schema from './schema'
import type {
  BatchSnapshot,
  CancelAllOptions,
  ClusterInfo,
  ClusterSettings,
  ClusterSettingsUpdate,
  HistoryQuery,
  Limits,
  ListQuery,
  QuitOptions,
  Snapshot,
  Stats,
  SubmitSpec,
  TaskDetail,
  TaskSnapshot,
  WaitOptions,
} from './types'

/** How one argument travels in an HTTP request. */
export type HttpArg =
  /** the `:id` segment of the path */
  | 'path'
  /** the whole JSON body */
  | 'body'
  /** one field of a JSON object body */
  | { field: string }
  /** an object sent as URL parameters, each decoded as declared */
  | { query: Record<string, 'string' | 'number'> }

export interface HttpBinding {
  method: 'GET' | 'POST'
  /** `:id` stands for the 'path' argument. */
  path: string
  /** One per argument of the operation, in order. */
  args: readonly HttpArg[]
  /** Success status (default 200); a result-less operation answers `{}`. */
  status?: 200 | 201 | 202
  /** The result travels as `{ [reply]: result }`. */
  reply?: string
}

export interface Operation<A extends unknown[], R> {
  /** The common/schema.ts parser the engine applies to the arguments (one argument, or the body fields as one object). */
  parse?: Extract<keyof typeof Schema, `parse${string}`>
  http: HttpBinding
  /** Phantom: carries the method's signature, never set. */
  readonly signature?: (...args: A) => Promise<R>
}

const op = <A extends unknown[], R>(declaration: Operation<A, R>): Operation<A, R> => declaration

const none: readonly HttpArg[] = []

export const OPERATIONS = {
  /** batchId is set when a batch was submitted. */
  submit: op<[spec: SubmitSpec], { ids: string[]; batchId?: string }>({
    parse: 'parseSubmitSpec',
    http: { method: 'POST', path: '/api/tasks', args: ['body'], status: 201 },
  }),
  list: op<[query?: ListQuery], TaskSnapshot[]>({
    parse: 'parseListQuery',
    http: { method: 'GET', path: '/api/tasks', args: [{ query: { state: 'string', limit: 'number' } }], reply: 'tasks' },
  }),
  /** History beyond what the engine keeps live: pages from the store, newest first. */
  history: op<[query?: HistoryQuery], TaskSnapshot[]>({
    parse: 'parseHistoryQuery',
    http: {
      method: 'GET',
      path: '/api/history',
      args: [{ query: { state: 'string', before: 'string', limit: 'number' } }],
      reply: 'tasks',
    },
  }),
  /** With `waitMs`, answers when the task is final or after that long (Future.result(timeout)). */
  get: op<[id: string, options?: WaitOptions], TaskDetail>({
    parse: 'parseTaskId',
    http: { method: 'GET', path: '/api/tasks/:id', args: ['path', { query: { waitMs: 'number' } }] },
  }),
  cancel: op<[id: string], void>({
    parse: 'parseTaskId',
    http: { method: 'POST', path: '/api/tasks/:id/cancel', args: ['path'], status: 202 },
  }),
  retry: op<[id: string], { id: string }>({
    parse: 'parseTaskId',
    http: { method: 'POST', path: '/api/tasks/:id/retry', args: ['path'], status: 201 },
  }),
  /** This node's tasks; `{cluster: true}` on a cluster node also every unfinished cluster task, wherever it is. */
  cancelAll: op<[options?: CancelAllOptions], void>({
    parse: 'parseCancelAllOptions',
    http: { method: 'POST', path: '/api/cancel-all', args: ['body'], status: 202 },
  }),
  stats: op<[], Stats>({ http: { method: 'GET', path: '/api/stats', args: none } }),
  /** Concurrency limit per executor; returns them all. */
  setLimits: op<[limits: Partial<Limits>], Limits>({
    parse: 'parseLimits',
    http: { method: 'POST', path: '/api/limits', args: [{ field: 'limits' }], reply: 'limits' },
  }),
  snapshot: op<[], Snapshot>({ http: { method: 'GET', path: '/api/snapshot', args: none } }),
  /**
   * A batch's progress, its results in submission order (gather) and its finish order; with
   * `waitMs`, answers when it is settled (every task final, or its returnWhen met with onSettled
   * "leave") or after that long.
   */
  batch: op<[id: string, options?: WaitOptions], BatchSnapshot>({
    parse: 'parseTaskId',
    http: { method: 'GET', path: '/api/batches/:id', args: ['path', { query: { waitMs: 'number' } }] },
  }),
  /** Pause intake: running tasks go on, nothing new starts until resume. */
  pause: op<[], void>({ http: { method: 'POST', path: '/api/pause', args: none, status: 202 } }),
  resume: op<[], void>({ http: { method: 'POST', path: '/api/resume', args: none, status: 202 } }),
  /** Concurrency limit for one group (null removes it); returns every group limit. */
  setGroupLimit: op<[group: string, limit: number | null], Record<string, number>>({
    parse: 'parseGroupLimit',
    http: { method: 'POST', path: '/api/group-limits', args: [{ field: 'group' }, { field: 'limit' }], reply: 'groupLimits' },
  }),
  /** The UI's Quit: runs the shutdown sequence of the host (app or server); `pending` keeps or cancels the queue. */
  quit: op<[options?: QuitOptions], void>({
    parse: 'parseQuitOptions',
    http: { method: 'POST', path: '/api/quit', args: ['body'], status: 202 },
  }),
  /** The drain panel's Force now: a shutdown in progress forces what is left at once, like a second Ctrl+C. */
  forceShutdown: op<[], void>({ http: { method: 'POST', path: '/api/force-shutdown', args: none, status: 202 } }),
  /** The cluster this node belongs to (nodes, queue counts, Redis reachable); `enabled: false` without `--redis`. */
  cluster: op<[], ClusterInfo>({ http: { method: 'GET', path: '/api/cluster', args: none } }),
  /**
   * The cluster settings the host starts with: read them, or (with `update`) save them for the next
   * start. The Electron app answers from its settings.json; `taskloop serve` has them from its flags
   * and refuses an update.
   */
  clusterSettings: op<[update?: ClusterSettingsUpdate], ClusterSettings>({
    parse: 'parseClusterSettingsUpdate',
    http: { method: 'POST', path: '/api/cluster-settings', args: ['body'] },
  }),
}

export type OperationName = keyof typeof OPERATIONS
export const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[]

type Signature<K extends OperationName> = NonNullable<(typeof OPERATIONS)[K]['signature']>
export type OperationArgs<K extends OperationName> = Parameters<Signature<K>>
export type OperationResult<K extends OperationName> = Awaited<ReturnType<Signature<K>>>

/** The method of every operation: what TaskloopApi is besides its streams. */
export type OperationMethods = { [K in OperationName]: Signature<K> }

/** One method per operation, each handing its name and arguments to `call` (ProxyChannel.toService). */
export function proxyOperations<T extends { [K in OperationName]: unknown } = OperationMethods>(
  call: (name: OperationName, args: unknown[]) => unknown,
): T {
  return Object.fromEntries(OPERATION_NAMES.map((name) => [name, (...args: unknown[]) => call(name, args)])) as T
}

/**
 * Calls one operation of `api` with arguments that came from outside (IPC, HTTP): only as many as
 * it declares are passed on; the engine parses them.
 */
export function callOperation(api: OperationMethods, name: OperationName, args: readonly unknown[]): Promise<unknown> {
  const method = api[name] as (...a: unknown[]) => Promise<unknown>
  return method.apply(api, args.slice(0, OPERATIONS[name].http.args.length))
}
