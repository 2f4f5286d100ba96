// Validation at every boundary where data comes from outside (IPC, HTTP, files).
// A refusal names the field: `{ error: "batch.tasks.2.params: expected object", path: "batch.tasks.2.params" }`.
import { z } from 'zod'
import { AFTER_WHEN, EXECUTORS, JOB_EXECUTORS, ON_STOP, RETURN_WHEN, TASK_STATES, TaskloopError } from './types'
import type { AfterWhen, CancelAllOptions, ClusterSettingsUpdate, HistoryQuery, JobCall, Limits, ListQuery, QuitOptions, SubmitSpec, TaskSpec, WaitOptions } from './types'

const QUEUE_PATTERN = /^[A-Za-z0-9._-]+$/
/** A BullMQ queue name: no ':' (BullMQ's key separator). */
export const queueNameSchema = z.string().min(1).max(200).regex(QUEUE_PATTERN, 'expected letters, digits, ".", "_" or "-"')

const MAX_TASKS_PER_SUBMIT = 100_000
const DAY_MS = 86_400_000

const MAX_PARAMS_DEPTH = 64
const MAX_PARAMS_CHARS = 1_000_000

/**
 * Params are free JSON, but bounded: a 100k-deep object would overflow the stack of whoever
 * stringifies it next (the store, a client), and a huge one would sit in every snapshot.
 */
function jsonProblem(value: unknown): string | null {
  // The common case first, without a stack: a flat object of strings, numbers, booleans and nulls.
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    let chars = 0
    let flat = true
    for (const k in value) {
      const x = (value as Record<string, unknown>)[k]
      chars += k.length
      if (typeof x === 'string') chars += x.length
      else if (typeof x === 'number' || typeof x === 'boolean' || x === null) chars += 8
      else {
        flat = false
        break
      }
    }
    if (flat) return chars > MAX_PARAMS_CHARS ? `larger than ${MAX_PARAMS_CHARS} characters` : null
  }
  const stack: [unknown, number][] = [[value, 0]]
  let chars = 0
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (depth > MAX_PARAMS_DEPTH) return `nested deeper than ${MAX_PARAMS_DEPTH} levels`
    if (typeof v === 'string') chars += v.length
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) chars += 8
    else if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1])
    else if (typeof v === 'object') {
      if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return 'must be plain JSON'
      for (const [k, x] of Object.entries(v)) {
        chars += k.length
        stack.push([x, depth + 1])
      }
    } else return `must be plain JSON (found a ${typeof v})`
    if (chars > MAX_PARAMS_CHARS) return `larger than ${MAX_PARAMS_CHARS} characters`
  }
  return null
}

const params = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = jsonProblem(value)
  if (problem) ctx.addIssue({ code: 'custom', message: problem })
})

const name = z.string().max(200)
const ms = (max: number) => z.number().int().min(0).max(max)
const id = z.string().min(1).max(100)
const afterIds = z.array(id).max(10_000)

const common = {
  name: name.optional(),
  timeoutMs: z.number().int().min(1).max(7 * DAY_MS).optional(),
  retries: z.number().int().min(0).max(100).optional(),
  retryDelayMs: ms(DAY_MS).optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  // The ids to wait for; `{ ids, when }` also says which of their outcomes this task runs on.
  after: z.union([afterIds, z.strictObject({ ids: afterIds, when: z.enum(AFTER_WHEN).optional() })]).optional(),
  afterWhen: z.enum(AFTER_WHEN).optional(),
  group: z.string().min(1).max(200).optional(),
  killGraceMs: ms(600_000).optional(),
  onInterrupt: z.enum(['fail', 'requeue']).optional(),
  detached: z.boolean().optional(),
  queue: queueNameSchema.optional(),
  delayMs: ms(7 * DAY_MS).optional(),
}

const JOB_PATTERN = /^[^#]+(#[A-Za-z_$][\w$]*)?$/

export const jobSpecSchema = z.strictObject({
  ...common,
  job: z
    .string()
    .min(1)
    .max(4096)
    .regex(JOB_PATTERN, 'expected a built-in job name or "path/to/module.mjs#exportName"'),
  params: params.optional(),
  executor: z.enum(JOB_EXECUTORS).optional(),
})

export const commandSpecSchema = z
  .strictObject({
    ...common,
    command: z.string().min(1).max(65_536).optional(),
    argv: z.array(z.string().max(65_536)).min(1).max(10_000).optional(),
    cwd: z.string().min(1).max(4096).optional(),
    env: z.record(z.string(), z.string()).optional(),
  })
  .refine((s) => (s.command === undefined) !== (s.argv === undefined), {
    message: 'give exactly one of "command" or "argv"',
    path: ['command'],
  })

/** Re-reports a nested schema's issues, naming an unknown key in the path itself. */
function forwardIssues(schema: z.ZodType, value: unknown, ctx: z.RefinementCtx): void {
  const r = schema.safeParse(value)
  if (r.success) return
  for (const issue of r.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? ''
      ctx.addIssue({ code: 'custom', message: `unknown field "${key}"`, path: [...issue.path, key] })
    } else {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path })
    }
  }
}

const PLAIN_JOB_KEYS = new Set(['job', 'params', 'executor', 'name', 'queue'])
/** The job string plainJobSpec last found valid: a batch names one job thousands of times, checked once. */
let lastPlainJob = ''

/**
 * The common job spec (job, params, executor, name, queue: nothing else, each plainly valid), checked
 * without zod: through the schema a batch of 20k of them spends most of its submit there. It
 * only says yes to what jobSpecSchema accepts; anything else goes through the schema, which
 * accepts it or names the problem.
 */
function plainJobSpec(value: object): boolean {
  if (Object.getPrototypeOf(value) !== Object.prototype) return false
  for (const key in value) if (!PLAIN_JOB_KEYS.has(key)) return false
  const { job, params, executor, name, queue } = value as Record<string, unknown>
  if (typeof job !== 'string') return false
  if (job !== lastPlainJob) {
    if (job.length < 1 || job.length > 4096 || !JOB_PATTERN.test(job)) return false
    lastPlainJob = job
  }
  if (executor !== undefined && !(JOB_EXECUTORS as readonly unknown[]).includes(executor)) return false
  if (name !== undefined && (typeof name !== 'string' || name.length > 200)) return false
  if (queue !== undefined && (typeof queue !== 'string' || queue.length < 1 || queue.length > 200 || !QUEUE_PATTERN.test(queue))) return false
  if (params === undefined) return true
  return typeof params === 'object' && params !== null && !Array.isArray(params) && jsonProblem(params) === null
}

const taskSpecSchema = z.custom<unknown>().superRefine((value, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object with "job", "command" or "argv"' })
    return
  }
  if ('job' in value && plainJobSpec(value)) return
  const schema = 'job' in value ? jobSpecSchema : 'command' in value || 'argv' in value ? commandSpecSchema : null
  if (!schema) {
    ctx.addIssue({ code: 'custom', message: 'one of "job", "command" or "argv" is required', path: ['job'] })
    return
  }
  forwardIssues(schema, value, ctx)
})

export const batchSpecSchema = z.strictObject({
  batch: z
    .strictObject({
      name: name.optional(),
      concurrency: z.number().int().min(1).max(10_000).optional(),
      failFast: z.boolean().optional(),
      returnWhen: z.enum(RETURN_WHEN).optional(),
      timeoutMs: z.number().int().min(1).max(7 * DAY_MS).optional(),
      onSettled: z.enum(['cancel', 'leave']).optional(),
      tasks: z.array(taskSpecSchema).min(1).max(MAX_TASKS_PER_SUBMIT),
    })
    // failFast is returnWhen "firstError" by its old name: both at once must agree.
    .refine((b) => b.failFast !== true || b.returnWhen === undefined || b.returnWhen === 'firstError', {
      message: 'failFast is returnWhen "firstError": give one of them',
      path: ['failFast'],
    }),
})

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype

/**
 * A batch of plain job specs only (plainJobSpec), checked without running zod per task: its own
 * fields go through the schema once, with its first task standing for all. Says yes only to
 * what batchSpecSchema accepts; anything else goes through the schema.
 */
function plainBatch(value: unknown): boolean {
  if (!isPlainObject(value)) return false
  for (const key in value) if (key !== 'batch') return false
  const b = value.batch
  if (!isPlainObject(b)) return false
  const tasks = b.tasks
  if (!Array.isArray(tasks) || tasks.length < 1 || tasks.length > MAX_TASKS_PER_SUBMIT) return false
  for (let i = 0; i < tasks.length; i++) {
    const t: unknown = tasks[i]
    if (!isPlainObject(t) || !plainJobSpec(t)) return false
  }
  return batchSpecSchema.safeParse({ batch: { ...b, tasks: [tasks[0]] } }).success
}

export const submitSpecSchema = z.custom<unknown>().superRefine((value, ctx) => {
  const schema = value && typeof value === 'object' && 'batch' in value ? batchSpecSchema : taskSpecSchema
  forwardIssues(schema, value, ctx)
})

const formatPath = (path: readonly PropertyKey[]): string => path.map(String).join('.')

/** Parses untrusted data or throws a TaskloopError('invalid') naming the first bad field. */
export function parseWith<T>(schema: z.ZodType, value: unknown, what: string): T {
  const r = schema.safeParse(value)
  if (r.success) return value as T
  const issue = r.error.issues[0]!
  const path = formatPath(issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path)
  throw new TaskloopError('invalid', `${path || what}: ${issue.message}`, path || what)
}

/**
 * `after: { ids, when }` is `after: ids` plus `afterWhen: when`: the engine sees one form. Both at
 * once must agree.
 */
function afterIdsOnly<T extends TaskSpec>(spec: T, at: string): T {
  const after = spec.after as unknown
  if (after === undefined || Array.isArray(after)) return spec
  const { ids, when } = after as { ids: string[]; when?: AfterWhen }
  if (when !== undefined && spec.afterWhen !== undefined && when !== spec.afterWhen) {
    throw new TaskloopError('invalid', `${at}after.when: "${when}" differs from afterWhen "${spec.afterWhen}"`, `${at}after.when`)
  }
  const afterWhen = when ?? spec.afterWhen
  // Object.assign, not a spread with afterWhen added: see withParent in engine/engine.ts. `spec` is
  // the schema's output, which holds only the fields it knows.
  return Object.assign({}, spec, afterWhen ? { after: ids, afterWhen } : { after: ids })
}

export function parseSubmitSpec(value: unknown): SubmitSpec {
  // Plain job specs have no `after` to rewrite: accepted as they are.
  if (plainBatch(value) || (isPlainObject(value) && 'job' in value && plainJobSpec(value))) return value as SubmitSpec
  const spec = parseWith<SubmitSpec>(submitSpecSchema, value, 'spec')
  if (!('batch' in spec)) return afterIdsOnly(spec, '')
  const tasks = spec.batch.tasks.map((t, i) => afterIdsOnly(t, `batch.tasks.${i}.`))
  return tasks.some((t, i) => t !== spec.batch.tasks[i]) ? { ...spec, batch: { ...spec.batch, tasks } } : spec
}

export const taskIdSchema = id
export const parseTaskId = (value: unknown): string => parseWith<string>(id, value, 'id')

/** A blocking read waits at most a minute: longer holds an HTTP request (and a proxy) open too long. */
export const MAX_WAIT_MS = 60_000
export const waitOptionsSchema = z.strictObject({ waitMs: ms(MAX_WAIT_MS).optional() })
export const parseWaitOptions = (value: unknown): WaitOptions =>
  parseWith<WaitOptions>(waitOptionsSchema, value ?? {}, 'options')

export const listQuerySchema = z.strictObject({
  state: z.enum(TASK_STATES).optional(),
  limit: z.number().int().min(1).max(1_000_000).optional(),
})
export const parseListQuery = (value: unknown): ListQuery =>
  parseWith<ListQuery>(listQuerySchema, value ?? {}, 'query')

export const historyQuerySchema = z.strictObject({
  state: z.enum(TASK_STATES).optional(),
  before: id.optional(),
  limit: z.number().int().min(1).max(1000).optional(),
})
export const parseHistoryQuery = (value: unknown): HistoryQuery =>
  parseWith<HistoryQuery>(historyQuerySchema, value ?? {}, 'query')

export const limitsSchema = z.strictObject(
  Object.fromEntries(EXECUTORS.map((e) => [e, z.number().int().min(1).max(1024).optional()])) as Record<
    (typeof EXECUTORS)[number],
    z.ZodOptional<z.ZodNumber>
  >,
)
export const parseLimits = (value: unknown): Partial<Limits> => parseWith<Partial<Limits>>(limitsSchema, value, 'limits')

export const groupLimitSchema = z.strictObject({
  group: z.string().min(1).max(200),
  limit: z.number().int().min(1).max(100_000).nullable(),
})
export const parseGroupLimit = (value: unknown): { group: string; limit: number | null } =>
  parseWith<{ group: string; limit: number | null }>(groupLimitSchema, value, 'groupLimit')

export const cancelAllOptionsSchema = z.strictObject({ cluster: z.boolean().optional() })
export const parseCancelAllOptions = (value: unknown): CancelAllOptions =>
  parseWith<CancelAllOptions>(cancelAllOptionsSchema, value ?? {}, 'options')

export const quitOptionsSchema = z.strictObject({ pending: z.enum(ON_STOP).optional() })
export const parseQuitOptions = (value: unknown): QuitOptions => parseWith<QuitOptions>(quitOptionsSchema, value ?? {}, 'quit')

// Cluster settings: a Redis URL, a node id and the BullMQ queues a node serves.
/** The password of a Redis URL as it is shown and logged. */
export const REDACTED = '***'

/** The Redis URL with its password replaced by `***` (`redis://:***@host:port`): what a UI shows and a log says. */
export function redactRedisUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    // Not a URL: hide anything that could be credentials all the same.
    return url.replace(/\/\/[^@/]*@/, `//${REDACTED}@`)
  }
  if (!u.password) return url
  return `${u.protocol}//${u.username}:${REDACTED}@${u.host}${u.pathname === '/' ? '' : u.pathname}${u.search}`
}

export const redisUrlSchema = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    let u: URL | null = null
    try {
      u = new URL(value)
    } catch {
      // reported below
    }
    if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) {
      // The value itself is not repeated: it may hold a password.
      ctx.addIssue({ code: 'custom', message: 'expected redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://…' })
    }
  })
export const nodeIdSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'expected letters, digits, ".", "_" or "-"')
export const queueNamesSchema = z
  .array(queueNameSchema)
  .max(100)
  .refine((names) => new Set(names).size === names.length, 'a queue is named twice')

export const clusterSettingsUpdateSchema = z.strictObject({
  redis: redisUrlSchema.nullable(),
  nodeId: nodeIdSchema.nullable().optional(),
  queues: queueNamesSchema.optional(),
})
/** No update (undefined or null): a read. */
export const parseClusterSettingsUpdate = (value: unknown): ClusterSettingsUpdate | undefined =>
  value === undefined || value === null ? undefined : parseWith<ClusterSettingsUpdate>(clusterSettingsUpdateSchema, value, 'settings')

// A running job's calls to the engine (ctx.queue, ctx.lock, ctx.submit, ctx.wait): job code is
// outside data, so each call is parsed once, where it reaches the engine (engine/job-calls.ts).
const primitiveName = z.string().min(1).max(200)
const maxSize = z.number().int().min(0).max(1_000_000).optional()
export const jobCallSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('queue.put'), name: primitiveName, maxSize, item: z.unknown() }),
  z.strictObject({ op: z.literal('queue.get'), name: primitiveName, maxSize }),
  z.strictObject({ op: z.literal('queue.taskDone'), name: primitiveName, maxSize }),
  z.strictObject({ op: z.literal('queue.join'), name: primitiveName, maxSize }),
  z.strictObject({ op: z.literal('queue.size'), name: primitiveName, maxSize }),
  z.strictObject({ op: z.literal('lock.acquire'), name: primitiveName }),
  z.strictObject({ op: z.literal('lock.release'), name: primitiveName }),
  z.strictObject({ op: z.literal('submit'), spec: z.unknown() }),
  z.strictObject({
    op: z.literal('wait'),
    ids: z.array(id).min(1).max(MAX_TASKS_PER_SUBMIT),
    returnWhen: z.enum(RETURN_WHEN).optional(),
    timeoutMs: z.number().int().min(0).max(7 * DAY_MS).optional(),
  }),
])
export const parseJobCall = (value: unknown): JobCall => parseWith<JobCall>(jobCallSchema, value, 'call')
