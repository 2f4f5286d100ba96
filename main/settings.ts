// The app's settings: `settings.json` in Electron's userData folder, e.g.
//   { "jobsDirs": ["/home/me/jobs"], "redis": "redis://:secret@10.0.0.5:6379", "nodeId": "desk", "queues": ["taskloop"] }
// Job modules in those folders can be named by export alone (like `taskloop serve --jobs DIR`).
// TASKLOOP_JOBS (folders separated by the path delimiter) adds to them. With `redis` the app joins
// that cluster at its start, like `taskloop serve --redis URL --node-id ID --queue NAME`;
// the UI changes these three (saveClusterSettings), for the next start. The password in `redis` is
// never shown or logged: redactRedisUrl. A broken file is reported, never fatal: the app starts
// with what could be read, and a save refuses to overwrite it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { TaskloopApi } from '../common/api'
import { callOperation, proxyOperations } from '../common/operations'
import { nodeIdSchema, parseClusterSettingsUpdate, queueNamesSchema, REDACTED, redactRedisUrl, redisUrlSchema } from '../common/schema'
import { TaskloopError, type ClusterSettings, type ClusterSettingsUpdate } from '../common/types'

const settingsSchema = z.strictObject({
  jobsDirs: z.array(z.string().min(1).max(4096)).max(100).optional(),
  redis: redisUrlSchema.optional(),
  nodeId: nodeIdSchema.optional(),
  queues: queueNamesSchema.optional(),
})

type SettingsFile = z.infer<typeof settingsSchema>

/** The cluster the app joins at its start (the ClusterOptions it hands to joinCluster). */
export interface AppCluster {
  /** With its password: for the connection only, never for a UI or a log (redactRedisUrl). */
  redis: string
  nodeId: string | null
  queues: string[]
}

export interface AppSettings {
  jobsDirs: string[]
  /** Null: no `redis`, the app runs alone. */
  cluster: AppCluster | null
  /** What was wrong with settings.json, if anything. */
  problem: string | null
}

/** settings.json as it is: its fields when valid (none when absent), or what is wrong with it. */
function readFile(file: string): { data: SettingsFile; raw: Record<string, unknown>; problem: string | null } {
  let text: string | null = null
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { data: {}, raw: {}, problem: `cannot read ${file}: ${(e as Error).message}` }
  }
  if (text === null) return { data: {}, raw: {}, problem: null }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    return { data: {}, raw: {}, problem: `${file} is not valid JSON: ${(e as Error).message}` }
  }
  const r = settingsSchema.safeParse(raw)
  if (r.success) return { data: r.data, raw: raw as Record<string, unknown>, problem: null }
  // zod's messages name the field, never its value: a bad URL's password stays out of the problem.
  return { data: {}, raw: {}, problem: `${file}: ${r.error.issues[0]!.path.join('.') || 'settings'}: ${r.error.issues[0]!.message}` }
}

export function readSettings(file: string, env: NodeJS.ProcessEnv = process.env): AppSettings {
  const fromEnv = (env['TASKLOOP_JOBS'] ?? '').split(path.delimiter).filter(Boolean)
  const { data, problem } = readFile(file)
  const base = path.dirname(file)
  return {
    jobsDirs: [...(data.jobsDirs ?? []), ...fromEnv].map((d) => path.resolve(base, d)),
    cluster: data.redis ? { redis: data.redis, nodeId: data.nodeId ?? null, queues: data.queues ?? [] } : null,
    problem,
  }
}

/** What the UI shows of the saved cluster settings: the password as `***`. */
export function clusterSettingsOf(settings: AppSettings, joinProblem: string | null = null): ClusterSettings {
  const c = settings.cluster
  return {
    source: 'app',
    redis: c ? redactRedisUrl(c.redis) : null,
    nodeId: c?.nodeId ?? null,
    queues: c?.queues ?? [],
    problem: [settings.problem, joinProblem].filter(Boolean).join('; ') || null,
  }
}

/**
 * Saves the cluster part of settings.json (validated by the caller, common/schema.ts), keeping
 * every other field; takes effect at the next start. A URL whose password is `***` keeps the saved
 * password (the UI never had it). A broken file is refused, not overwritten.
 */
export function saveClusterSettings(file: string, update: ClusterSettingsUpdate): void {
  const { raw, problem } = readFile(file)
  if (problem) throw new TaskloopError('conflict', `fix settings.json first: ${problem}`)
  const next: Record<string, unknown> = { ...raw }
  delete next['redis']
  delete next['nodeId']
  delete next['queues']
  if (update.redis !== null) {
    next['redis'] = keepPassword(update.redis, typeof raw['redis'] === 'string' ? raw['redis'] : null)
    if (update.nodeId) next['nodeId'] = update.nodeId
    if (update.queues && update.queues.length > 0) next['queues'] = update.queues
  }
  // Write then rename: a crash mid-write never leaves half a file. Owner-only: it may hold a password.
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, file)
}

function keepPassword(url: string, saved: string | null): string {
  const u = new URL(url)
  if (decodeURIComponent(u.password) !== REDACTED) return url
  const old = saved ? new URL(saved) : null
  if (!old?.password) throw new TaskloopError('invalid', 'redis: the password shown as *** is not saved: type it in full', 'redis')
  u.password = old.password
  return u.toString()
}

/**
 * The API the app's window gets: the engine's (or its cluster node's), except the cluster settings,
 * which are the app's own: read from settings.json, or validated and saved there for the next start.
 * `joinProblem`: why joining the cluster failed at this start, shown with the settings.
 */
export function withAppSettings(api: TaskloopApi, file: string, joinProblem: string | null): TaskloopApi {
  return {
    ...proxyOperations((name, args) => callOperation(api, name, args)),
    subscribe: (listener) => api.subscribe(listener),
    subscribeLog: (id, listener) => api.subscribeLog(id, listener),
    clusterSettings: async (update) => {
      const parsed = parseClusterSettingsUpdate(update)
      if (parsed) saveClusterSettings(file, parsed)
      return clusterSettingsOf(readSettings(file), joinProblem)
    },
  }
}
