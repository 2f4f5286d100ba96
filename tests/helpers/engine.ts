// Test helpers for driving a real engine: wait for states through the public API.
import type { TaskloopApi } from '../../common/api'
import { isFinal, type TaskSnapshot, type TaskState } from '../../common/types'

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export const waitState = (api: TaskloopApi, id: string, states: TaskState | TaskState[], timeoutMs?: number) => {
  const want = Array.isArray(states) ? states : [states]
  return waitFor<TaskSnapshot>(
    `task ${id} to be ${want.join('/')}`,
    async () => {
      const t = await api.get(id)
      return want.includes(t.state) ? t : undefined
    },
    timeoutMs,
  )
}

export const waitFinal = (api: TaskloopApi, ids: string[], timeoutMs?: number) =>
  waitFor<TaskSnapshot[]>(
    `${ids.length} tasks to finish`,
    async () => {
      const all = await Promise.all(ids.map((id) => api.get(id)))
      return all.every((t) => isFinal(t.state)) ? all : undefined
    },
    timeoutMs,
  )
