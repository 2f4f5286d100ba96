// Real `taskloop serve --redis` nodes for the cluster tests: separate processes from the sources,
// each with its own data folder, stopped (SIGTERM, then SIGKILL) after each test.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import type { ClusterInfo, TaskDetail, TaskSnapshot } from '../../../common/types'
import { waitFor } from '../../helpers/engine'
import { serve, type ServeProcess } from '../../faults/serve-process'

export interface Node extends ServeProcess {
  id: string
  get(id: string): Promise<TaskDetail>
  list(): Promise<TaskSnapshot[]>
  submit(spec: unknown): Promise<string[]>
  cancel(id: string): Promise<void>
  cluster(): Promise<ClusterInfo>
  kill9(): Promise<void>
}

/** One API call; a node that does not answer within 30 s fails the call, naming it. */
export async function api<T>(url: string, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(url + p, {
    method,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(30_000),
    ...(body ? { body: JSON.stringify(body) } : {}),
  }).catch((e: Error) => {
    throw new Error(`${method} ${p}: ${e.message}`)
  })
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
  return (await res.json().catch(() => null)) as T
}

type Start = (redis: string, id: string, args?: string[], env?: NodeJS.ProcessEnv, options?: { joined?: boolean }) => Promise<Node>

/**
 * `const start = useNodes()` at the top of a file; `start(redisUrl, id, args)` starts one node and
 * waits until it is in the cluster (`joined: false`: only until it serves). An empty URL gives no
 * --redis flag (the environment names Redis).
 */
export function useNodes(): Start {
  const running: Node[] = []
  afterEach(async () => {
    await Promise.all(
      running.splice(0).map(async (n) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return
        n.child.kill('SIGTERM')
        const timer = setTimeout(() => n.child.kill('SIGKILL'), 10_000)
        await n.exited
        clearTimeout(timer)
      }),
    )
  })
  return async (redis, id, args = [], env, { joined = true } = {}) => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `taskloop-cluster-${id}-`))
    // Seconds, not BullMQ's minute: a dead node's job moves on within a test's patience.
    const p = await serve(dataDir, [...(redis ? ['--redis', redis] : []), '--node-id', id, '--stalled-interval-ms', '1000', ...args], {
      ...(env ? { env } : {}),
      // Several nodes start at once on a busy machine.
      startMs: 90_000,
    })
    const node: Node = {
      ...p,
      id,
      get: (task) => api<TaskDetail>(p.url, 'GET', `/api/tasks/${task}`),
      list: async () => (await api<{ tasks: TaskSnapshot[] }>(p.url, 'GET', '/api/tasks')).tasks,
      submit: async (spec) => (await api<{ ids: string[] }>(p.url, 'POST', '/api/tasks', spec)).ids,
      cancel: async (task) => void (await api(p.url, 'POST', `/api/tasks/${task}/cancel`, {})),
      cluster: () => api<ClusterInfo>(p.url, 'GET', '/api/cluster'),
      kill9: async () => {
        p.child.kill('SIGKILL')
        await p.exited
      },
    }
    running.push(node)
    // Joined: its heartbeat is in Redis.
    if (joined) await waitFor(`node ${id} in the cluster`, async () => (await node.cluster()).nodes.some((n) => n.id === id), 60_000)
    return node
  }
}

/** Polls a node's API until the task matches. */
export const until = (node: Node, id: string, what: string, ok: (t: TaskDetail) => boolean, ms = 30_000): Promise<TaskDetail> =>
  waitFor(`task ${id} ${what} (through node ${node.id})`, async () => {
    const t = await node.get(id).catch(() => null)
    return t && ok(t) ? t : undefined
  }, ms)
