// @vitest-environment happy-dom
// The browser transport without a server: a fake fetch and a fake WebSocket.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TaskloopError } from '../../common/types'
import type { EngineEvent, Snapshot } from '../../common/types'
import { COMPACT_PROTOCOL, FIRST_PAGE, PAGE, WireEncoder, type ClientMessage } from '../../common/wire'
import { backoffMs, httpApi } from '../../renderer/src/api/http'
import { batch, snapshot, task } from './fixtures'

class FakeSocket {
  static readonly OPEN = 1
  static all: FakeSocket[] = []
  readyState = 0
  protocol = ''
  sent: ClientMessage[] = []
  onopen: (() => void) | null = null
  onmessage: ((e: { data: string }) => void) | null = null
  onclose: (() => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage)
  }
  close(): void {
    this.readyState = 3
    this.onclose?.()
  }
  // test side
  open(): void {
    this.readyState = 1
    this.onopen?.()
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) })
  }
  drop(): void {
    this.readyState = 3
    this.onclose?.()
  }
}

function setup(fetchImpl: typeof fetch = vi.fn()) {
  FakeSocket.all = []
  return httpApi({ base: 'http://127.0.0.1:7420', WebSocket: FakeSocket as unknown as typeof WebSocket, fetch: fetchImpl })
}

afterEach(() => vi.useRealTimers())

describe('http api', () => {
  it('turns a refusal into a TaskloopError naming the field', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ error: 'params: expected object', path: 'params' }), { status: 400 }))
    const api = setup(fetchImpl as unknown as typeof fetch)
    const error = await api.submit({ job: 'sleep' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TaskloopError)
    expect(error).toMatchObject({ code: 'invalid', message: 'params: expected object', path: 'params' })
    expect(fetchImpl).toHaveBeenCalledWith(
      'http://127.0.0.1:7420/api/tasks',
      expect.objectContaining({ method: 'POST', credentials: 'same-origin' }),
    )
  })

  it('sends each operation as the headless API has it and unwraps the reply', async () => {
    const sent: Array<[string, string, unknown]> = []
    const replies: Record<string, unknown> = {
      'GET /api/tasks?state=done&limit=5': { tasks: ['a'] },
      'GET /api/history?before=t9&limit=2': { tasks: ['b'] },
      'POST /api/limits': { limits: { thread: 2 } },
      'POST /api/group-limits': { groupLimits: { nightly: 3 } },
      'POST /api/tasks/t%2F1/retry': { id: 'r1' },
    }
    const fetchImpl = vi.fn(async (url: string, init: RequestInit) => {
      const route = `${init.method} ${url.slice('http://127.0.0.1:7420'.length)}`
      sent.push([init.method!, url.slice('http://127.0.0.1:7420'.length), init.body === null ? undefined : JSON.parse(String(init.body))])
      return new Response(JSON.stringify(replies[route] ?? {}), { status: 200 })
    })
    const api = setup(fetchImpl as unknown as typeof fetch)
    await api.submit({ job: 'sleep' })
    expect(await api.list({ state: 'done', limit: 5 })).toEqual(['a'])
    await api.list()
    expect(await api.history({ before: 't9', limit: 2 })).toEqual(['b'])
    await api.get('t 1')
    await api.cancel('t1')
    expect(await api.retry('t/1')).toEqual({ id: 'r1' })
    await api.cancelAll()
    await api.stats()
    expect(await api.setLimits({ thread: 2 })).toEqual({ thread: 2 })
    await api.snapshot()
    await api.batch('b-1')
    await api.pause()
    await api.resume()
    expect(await api.setGroupLimit('nightly', 3)).toEqual({ nightly: 3 })
    await api.setGroupLimit('nightly', null)
    await api.quit()
    expect(sent).toEqual([
      ['POST', '/api/tasks', { job: 'sleep' }],
      ['GET', '/api/tasks?state=done&limit=5', undefined],
      ['GET', '/api/tasks', undefined],
      ['GET', '/api/history?before=t9&limit=2', undefined],
      ['GET', '/api/tasks/t%201', undefined],
      ['POST', '/api/tasks/t1/cancel', undefined],
      ['POST', '/api/tasks/t%2F1/retry', undefined],
      ['POST', '/api/cancel-all', undefined],
      ['GET', '/api/stats', undefined],
      ['POST', '/api/limits', { limits: { thread: 2 } }],
      ['GET', '/api/snapshot', undefined],
      ['GET', '/api/batches/b-1', undefined],
      ['POST', '/api/pause', undefined],
      ['POST', '/api/resume', undefined],
      ['POST', '/api/group-limits', { group: 'nightly', limit: 3 }],
      ['POST', '/api/group-limits', { group: 'nightly', limit: null }],
      ['POST', '/api/quit', undefined],
    ])
  })

  it('reports a non-JSON error page by its status', async () => {
    const fetchImpl = vi.fn(async () => new Response('<html>Bad gateway</html>', { status: 502 }))
    const api = setup(fetchImpl as unknown as typeof fetch)
    await expect(api.stats()).rejects.toMatchObject({ code: 'internal', message: 'GET /api/stats: HTTP 502' })
  })

  it('streams events from /api/events and resyncs over the socket', async () => {
    const api = setup()
    const events: unknown[] = []
    api.subscribe((e) => events.push(e))
    const ws = FakeSocket.all[0]!
    expect(ws.url).toBe('ws://127.0.0.1:7420/api/events')
    ws.open()
    ws.receive(snapshot(1, [task({ id: 'a' })]))
    ws.receive(batch(2, []))
    expect(events).toHaveLength(2)

    const fresh = api.snapshot()
    expect(ws.sent).toContainEqual({ type: 'resync' })
    ws.receive(snapshot(9, []))
    expect((await fresh).seq).toBe(9)
  })

  it('paints the first page of a paged snapshot, then takes the rest one message a turn, in order, batches after it', () => {
    vi.useFakeTimers()
    const api = setup()
    const events: EngineEvent[] = []
    api.subscribe((e) => events.push(e))
    const ws = FakeSocket.all[0]!
    ws.protocol = COMPACT_PROTOCOL
    ws.open()
    const tasks = Array.from({ length: FIRST_PAGE + 2 * PAGE + 1 }, (_, i) => task({ id: `t${i}`, name: `job ${i}` }))
    const encoder = new WireEncoder()
    const pages = [...encoder.snapshot(snapshot(1, tasks))]
    expect(pages).toHaveLength(4)
    // Every page and a batch arrive at once, as from a fast server.
    for (const page of pages) ws.receive(page)
    ws.receive(encoder.batch(batch(2, [{ ...tasks[0]!, state: 'running' }])))
    expect(events.map((e) => [e.type, e.type === 'snapshot' ? e.tasks.length : e.seq])).toEqual([['snapshot', FIRST_PAGE]])
    // The rest waits for a painted frame, then comes one message a turn of the event loop: the
    // page answers input in between.
    let turns = 0
    while (events.length < 3) {
      expect(turns++).toBeLessThan(20)
      vi.advanceTimersToNextTimer()
    }
    expect(turns).toBeGreaterThan(pages.length)
    expect(events.map((e) => [e.type, e.type === 'snapshot' ? e.tasks.length : e.seq])).toEqual([
      ['snapshot', FIRST_PAGE],
      ['snapshot', tasks.length],
      ['batch', 2],
    ])
    expect((events[1] as Snapshot).tasks.map((t) => t.name)).toEqual(tasks.map((t) => t.name))
    // Caught up: the next message is taken at once.
    ws.receive(encoder.batch(batch(3, [])))
    expect(events).toHaveLength(4)
  })

  it('reconnects with backoff while someone listens, and asks again for the logs it watched', () => {
    vi.useFakeTimers()
    const api = setup()
    api.subscribe(() => {})
    api.subscribeLog('t1', () => {})
    FakeSocket.all[0]!.open()
    FakeSocket.all[0]!.drop()
    expect(FakeSocket.all).toHaveLength(1)
    vi.advanceTimersByTime(backoffMs(0))
    expect(FakeSocket.all).toHaveLength(2)
    FakeSocket.all[1]!.open()
    expect(FakeSocket.all[1]!.sent).toContainEqual({ type: 'watch-log', id: 't1' })
  })

  it('tells a refused login (401) from a server that is down, keeps retrying, and clears it once connected', async () => {
    vi.useFakeTimers()
    let status: number | null = null
    const fetchImpl = vi.fn(async () => {
      if (status === null) throw new TypeError('Failed to fetch')
      return new Response('{}', { status })
    })
    const told: boolean[] = []
    FakeSocket.all = []
    const api = httpApi({
      base: 'http://127.0.0.1:7420',
      WebSocket: FakeSocket as unknown as typeof WebSocket,
      fetch: fetchImpl as unknown as typeof fetch,
      onLoginLost: (lost) => told.push(lost),
    })
    api.subscribe(() => {})
    FakeSocket.all[0]!.drop() // the server is down: no answer at all
    await vi.waitFor(() => expect(fetchImpl).toHaveBeenCalledTimes(1))
    expect(told).toEqual([])
    status = 401 // back, with another token
    vi.advanceTimersByTime(backoffMs(0))
    FakeSocket.all[1]!.drop()
    await vi.waitFor(() => expect(told).toEqual([true]))
    expect(fetchImpl).toHaveBeenLastCalledWith('http://127.0.0.1:7420/api/stats', expect.objectContaining({ credentials: 'same-origin' }))
    vi.advanceTimersByTime(backoffMs(1))
    expect(FakeSocket.all).toHaveLength(3)
    FakeSocket.all[2]!.open() // logged in again from another tab
    expect(told).toEqual([true, false])
  })

  it('closes the socket when the last listener leaves', () => {
    const api = setup()
    const stop = api.subscribe(() => {})
    FakeSocket.all[0]!.open()
    stop()
    expect(FakeSocket.all[0]!.readyState).toBe(3)
  })

  it('backs off up to 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map(backoffMs)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000])
  })
})
