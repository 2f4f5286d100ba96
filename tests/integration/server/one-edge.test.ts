// Validation at one edge: the engine's parse, on the engine thread, is the only one. A bad payload
// gets the same refusal, naming the field, whether it comes straight to the thread proxy, over the
// IPC handlers, or over HTTP (the renderer's real HTTP client against the real server); and the
// operations work over all three.
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskloopApi } from '../../../common/api'
import { OPERATION_NAMES, type OperationName } from '../../../common/operations'
import { TaskloopError, type EngineEvent, type EventBatch } from '../../../common/types'
import { startEngineThread, type EngineClient } from '../../../engine/thread/client'
import { createIpcHandlers } from '../../../main/ipc-handlers'
import { httpApi } from '../../../renderer/src/api/http'
import { startServer, type TaskloopServer } from '../../../server/server'

let client: EngineClient
let server: TaskloopServer
let http: TaskloopApi
const ipc = () => createIpcHandlers(client, () => {}).handlers

beforeAll(async () => {
  client = await startEngineThread({ shutdownGraceMs: 500 })
  server = await startServer({ engine: client })
  const authorized: typeof fetch = (input, init = {}) =>
    fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${server.token}` } })
  http = httpApi({ base: server.url, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, fetch: authorized })
})
afterAll(async () => {
  await server.close()
  await client.shutdown({ graceMs: 200 })
})

/** The refusal as {code, error, path}, or the value if there was none. */
async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return { value: await run() }
  } catch (e) {
    return TaskloopError.from(e).toJSON()
  }
}

const long = 'x'.repeat(101)

describe('a bad payload is refused once, by the engine, the same over every transport', () => {
  it.each<[OperationName, unknown[], string]>([
    ['submit', [{ job: 'sleep', params: 'x' }], 'params'],
    ['submit', [{ batch: { tasks: [{ job: 'sleep', executor: 'gpu' }] } }], 'batch.tasks.0.executor'],
    ['submit', [{ command: 'true', bogus: 1 }], 'bogus'],
    ['list', [{ state: 'stopping' }], 'state'],
    ['history', [{ limit: 5000 }], 'limit'],
    ['get', [long], 'id'],
    ['cancel', [long], 'id'],
    ['retry', [long], 'id'],
    ['batch', [long], 'id'],
    ['setLimits', [{ thread: 0 }], 'thread'],
    ['setLimits', [{ gpu: 2 }], 'gpu'],
    ['setGroupLimit', ['', 2], 'group'],
    ['setGroupLimit', ['nightly', 0], 'limit'],
  ])('%s %j: naming "%s"', async (name, args, field) => {
    const call = (api: TaskloopApi) => (api[name] as (...a: unknown[]) => Promise<unknown>)(...args)
    const direct = await outcome(() => call(client))
    expect(direct).toMatchObject({ code: 'invalid', path: field, error: expect.stringMatching(new RegExp(`^${field.replace(/\./g, '\\.')}: `)) })
    const overIpc = await ipc()[name](...args)
    expect(overIpc).toEqual({ ok: false, error: direct })
    expect(await outcome(() => call(http))).toEqual(direct)
  })

  it('nothing refused reached the scheduler, and valid calls work over each transport', async () => {
    expect((await client.snapshot()).tasks).toEqual([])
    const viaHttp = await http.submit({ name: 'via http', job: 'sleep', params: { ms: 1 } })
    const viaIpc = await ipc().submit({ name: 'via ipc', job: 'sleep', params: { ms: 1 } })
    expect(viaIpc.ok).toBe(true)
    expect(await http.setGroupLimit('nightly', 2)).toEqual({ nightly: 2 })
    expect(await ipc().setGroupLimit('nightly', null)).toEqual({ ok: true, value: {} })
    expect((await http.setLimits({ command: 3 })).command).toBe(3)
    expect((await http.list({ limit: 1 })).map((t) => t.name)).toEqual(['via ipc'])
    expect((await http.get(viaHttp.ids[0]!)).name).toBe('via http')
    expect((await http.stats()).hostLag).not.toBeNull()
    expect(OPERATION_NAMES.every((name) => typeof http[name] === 'function' && typeof client[name] === 'function')).toBe(true)
  })

  it("a batch crosses from the engine thread as JSON text: the host's subscribers get the same tasks, and a plain WebSocket that very text", async () => {
    const heard: EngineEvent[] = []
    const off = client.subscribe((e) => heard.push(e))
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/events?token=${server.token}`)
    const texts: string[] = []
    ws.on('message', (data) => texts.push(String(data)))
    await new Promise((resolve) => ws.once('open', resolve))
    const { ids } = await client.submit({ name: 'as text', job: 'sleep', params: { ms: 1 } })
    const done = (e: EngineEvent) => e.type === 'batch' && e.tasks.some((t) => t.id === ids[0] && t.state === 'done')
    await waitUntil(() => heard.some(done) && texts.some((t) => done(JSON.parse(t) as EngineEvent)))
    const batch = heard.find(done) as EventBatch
    expect(batch.tasks.find((t) => t.id === ids[0])).toMatchObject({ name: 'as text', state: 'done', spec: { job: 'sleep', params: { ms: 1 } } })
    // Sent as the engine thread wrote it: the text parses to the batch the host's subscribers heard.
    const sent = texts.map((t) => JSON.parse(t) as EngineEvent).find((e) => e.type === 'batch' && e.seq === batch.seq)
    expect(sent).toEqual(batch)
    off()
    ws.close()
  })
})

async function waitUntil(ok: () => boolean): Promise<void> {
  for (const until = Date.now() + 20_000; !ok(); ) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
