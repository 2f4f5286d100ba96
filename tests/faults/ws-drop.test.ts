// A WebSocket drop mid-run: the browser transport (renderer/src/api/http.ts, the real code, with the
// `ws` client standing in for the browser's WebSocket) reconnects, resyncs from a snapshot and ends
// with exactly the engine's state. A real server and engine, a real socket cut without a close frame.
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Mirror } from '../../common/mirror'
import { COMPACT_PROTOCOL, FIRST_PAGE } from '../../common/wire'
import { startServer, type TaskloopServer } from '../../server/server'
import { httpApi } from '../../renderer/src/api/http'
import { useEngines, waitFor } from '../helpers/engine'

const sockets: WebSocket[] = []
class TrackedSocket extends WebSocket {
  // The subprotocol too: the transport asks for the compact form, as in a browser.
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols)
    sockets.push(this)
  }
}

const newEngine = useEngines(200)
let server: TaskloopServer | null = null
// Registered after the engines: Vitest runs after-hooks last-registered first, so the server closes first.
afterEach(async () => {
  await server?.close()
  server = null
})

describe('a WebSocket drop mid-run', () => {
  it('the client reconnects, resyncs from a snapshot, and misses nothing', async () => {
    const engine = newEngine({ limits: { loop: 50 } })
    server = await startServer({ engine, auth: false })
    const api = httpApi({ base: server.url, WebSocket: TrackedSocket as unknown as typeof globalThis.WebSocket, fetch })

    // What a client holds: the renderer's mirror (common/mirror.ts), fed by the real transport.
    let gaps = 0
    const mirror = new Mirror({
      snapshot: () => {
        gaps++
        return api.snapshot()
      },
    })
    const tasks = mirror.tasks
    let snapshots = 0
    mirror.onChange(({ changed }) => changed === null && snapshots++)
    const stop = api.subscribe((e) => mirror.push(e))
    await waitFor('the first snapshot', async () => snapshots > 0)

    const { ids } = await api.submit({ batch: { tasks: Array.from({ length: 250 }, (_, i) => ({ name: `tick ${i}`, job: 'ticker', params: { steps: 10, intervalMs: 30 } })) } })
    for (let drop = 0; drop < 3; drop++) {
      await new Promise((r) => setTimeout(r, 250))
      sockets.at(-1)!.terminate() // no close frame: a cable pulled
      await waitFor('a new connection', async () => sockets.length === drop + 2 && sockets.at(-1)!.readyState === WebSocket.OPEN)
      // Its snapshot before the next cut: a loaded machine may take longer than the pause above.
      await waitFor('its snapshot', async () => snapshots >= drop + 2)
    }
    // The compact form, its snapshots paged (more tasks than its first page).
    expect(sockets.map((s) => s.protocol)).toEqual(sockets.map(() => COMPACT_PROTOCOL))
    expect(ids.length).toBeGreaterThan(FIRST_PAGE)
    await waitFor('every task to finish in the engine', async () => (await engine.stats()).counters.done === ids.length, 30_000)
    await waitFor('the client to catch up', async () => ids.every((id) => tasks.get(id)?.state === 'done'), 5000)
    const truth = await engine.list()
    expect([...tasks.values()].sort((a, b) => a.id.localeCompare(b.id)).map((t) => [t.id, t.state, t.progress])).toEqual(
      truth.sort((a, b) => a.id.localeCompare(b.id)).map((t) => [t.id, t.state, t.progress]),
    )
    expect(snapshots).toBeGreaterThanOrEqual(4) // the first, and one after each reconnect
    console.log(`ws-drop: 3 drops, ${snapshots} snapshots, ${gaps} gaps resynced`)
    stop()
  })
})
