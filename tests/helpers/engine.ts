// Test helpers for driving a real engine: one fixture to make engines, waits on states through the public API.
import { afterEach } from 'vitest'
import type { TaskloopApi } from '../../common/api'
import { isFinal, type TaskSnapshot, type TaskState } from '../../common/types'
import { Engine } from '../../engine/engine'
import type { EngineOptions } from '../../engine/handle'

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

/**
 * The engine fixture of a test file: `const newEngine = useEngines()` at the top, then
 * `const engine = newEngine(options)` in a test. Every engine a test made is shut down after it,
 * passed or failed, so no thread, process or timer outlives its test.
 * Vitest runs after-hooks last-registered first: call this after any afterEach that must run
 * once the engines are down (unmounting their data folder, say).
 */
export function useEngines(graceMs = 500): (options?: EngineOptions) => Engine {
  const live: Engine[] = []
  afterEach(async () => {
    await Promise.all(live.splice(0).map((e) => e.shutdown({ graceMs })))
  })
  return (options) => {
    const engine = new Engine(options)
    live.push(engine)
    return engine
  }
}
