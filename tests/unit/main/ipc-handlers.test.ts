// @vitest-environment happy-dom
// The Electron IPC layer without Electron: every operation's arguments reach the engine, whose
// parse is the validation, and refusals come back as envelopes naming the field.
import { afterAll, describe, expect, it, vi } from 'vitest'
import { INVOKE } from '../../../common/ipc'
import { OPERATION_NAMES } from '../../../common/operations'
import type { LogLine } from '../../../common/types'
import { Engine } from '../../../engine/engine'
import { createIpcHandlers, isTrustedSender } from '../../../main/ipc-handlers'
import { fakeApi } from '../../renderer/fixtures'

function setup() {
  const { api } = fakeApi()
  const sent: Array<[string, LogLine[]]> = []
  const { handlers, dispose } = createIpcHandlers(api, (id, lines) => sent.push([id, lines]))
  return { api, handlers, dispose, sent }
}

describe('IPC handlers', () => {
  it('passes a valid spec to the engine and wraps the value', async () => {
    const { api, handlers } = setup()
    const result = await handlers.submit({ job: 'sleep', params: { ms: 10 } })
    expect(result).toEqual({ ok: true, value: { ids: ['t1'] } })
    expect(api.submit).toHaveBeenCalledWith({ job: 'sleep', params: { ms: 10 } })
  })

  it('has one handler per operation and per log-watch channel, and passes on only the declared arguments', async () => {
    const { api, handlers } = setup()
    expect(Object.keys(handlers).sort()).toEqual(Object.keys(INVOKE).sort())
    for (const name of OPERATION_NAMES) expect(handlers).toHaveProperty(name)
    await handlers.cancel('t1', 'extra', { more: true })
    expect(api.cancel).toHaveBeenCalledWith('t1')
    await handlers.setGroupLimit('nightly', 2, 'extra')
    expect(api.setGroupLimit).toHaveBeenCalledWith('nightly', 2)
    await handlers.pause('extra')
    expect(api.pause).toHaveBeenCalledWith()
    await handlers.cancelAll({ cluster: true }, 'extra')
    expect(api.cancelAll).toHaveBeenCalledWith({ cluster: true })
  })
})

describe('IPC handlers with the real engine behind them', () => {
  // The engine's parse is the one validation: a refusal names the field, and nothing changed.
  const engine = new Engine()
  const initial = engine.snapshot()
  afterAll(() => engine.shutdown({ graceMs: 100 }))

  it.each([
    ['submit', [{ job: 'sleep', params: 'x' }], 'params'],
    ['submit', [{ batch: { tasks: [{ job: 'sleep' }, { command: 'ls', bogus: 1 }] } }], 'batch.tasks.1.bogus'],
    ['submit', [{ job: 'sleep', executor: 'gpu' }], 'executor'],
    ['submit', ['rm -rf /'], 'spec'],
    ['cancel', [42], 'id'],
    ['retry', [''], 'id'],
    ['get', [undefined], 'id'],
    ['list', [{ state: 'stopping' }], 'state'],
    ['setLimits', [{ thread: 0 }], 'thread'],
    ['setLimits', [{ gpu: 2 }], 'gpu'],
    ['watchLog', [{}], 'id'],
    ['batch', [null], 'id'],
    ['setGroupLimit', ['', 2], 'group'],
    ['setGroupLimit', ['nightly', 0], 'limit'],
    ['quit', [{ pending: 'later' }], 'pending'],
  ] as const)('%s refuses %j naming "%s"', async (name, args, field) => {
    const { handlers, dispose } = createIpcHandlers(engine, () => {})
    const result = await handlers[name](...args)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.error.code).toBe('invalid')
    expect(result.error.path).toBe(field)
    expect(result.error.error.startsWith(`${field}: `)).toBe(true)
    const after = await engine.snapshot()
    expect(after.tasks).toEqual([])
    expect(after.limits).toEqual((await initial).limits)
    expect((await engine.stats()).groupLimits).toEqual({})
    dispose()
  })
})

describe('IPC envelopes and log watches', () => {
  it("passes the Quit dialog's choice for pending tasks", async () => {
    const { api, handlers } = setup()
    expect(await handlers.quit({ pending: 'keep' })).toEqual({ ok: true, value: undefined })
    expect(api.quit).toHaveBeenCalledWith({ pending: 'keep' })
  })

  it('turns an engine refusal into an envelope', async () => {
    const { api, handlers } = setup()
    api.cancel.mockRejectedValueOnce({ code: 'not-found', error: 'id: no task "t9"', path: 'id' })
    expect(await handlers.cancel('t9')).toEqual({
      ok: false,
      error: { code: 'not-found', error: 'id: no task "t9"', path: 'id' },
    })
  })

  it('watches a log once per task, forwards its lines, and stops on unwatch or dispose', async () => {
    const { api, handlers, dispose, sent } = setup()
    const stops = [vi.fn(), vi.fn()]
    let push: ((lines: LogLine[]) => void) | undefined
    api.subscribeLog.mockImplementation(((_id: string, listener: (lines: LogLine[]) => void) => {
      push = listener
      return stops[api.subscribeLog.mock.calls.length - 1]!
    }) as never)
    await handlers.watchLog('t1')
    await handlers.watchLog('t1')
    expect(api.subscribeLog).toHaveBeenCalledTimes(1)
    const line: LogLine = { seq: 1, time: 0, stream: 'stdout', line: 'hi' }
    push!([line])
    expect(sent).toEqual([['t1', [line]]])
    await handlers.unwatchLog('t1')
    expect(stops[0]).toHaveBeenCalled()
    await handlers.watchLog('t2')
    dispose()
    expect(stops[1]).toHaveBeenCalled()
  })
})

describe('isTrustedSender', () => {
  const allowed = { pageUrl: 'app://taskloop/index.html' }

  it('accepts our page in our main frame only', () => {
    expect(isTrustedSender({ isOurMainFrame: true, url: 'app://taskloop/index.html' }, allowed)).toBe(true)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'app://taskloop/index.html#x' }, allowed)).toBe(true)
    expect(isTrustedSender({ isOurMainFrame: false, url: 'app://taskloop/index.html' }, allowed)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'app://taskloop/evil.html' }, allowed)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'app://elsewhere/index.html' }, allowed)).toBe(false)
    // The page as a file (what the window loaded before app://) is no longer ours.
    expect(isTrustedSender({ isOurMainFrame: true, url: 'file:///app/out/renderer/index.html' }, allowed)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'https://example.com/' }, allowed)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: undefined }, allowed)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'not a url' }, allowed)).toBe(false)
  })

  it('accepts the dev server origin under electron-vite dev', () => {
    const dev = { ...allowed, devOrigin: 'http://localhost:5173' }
    expect(isTrustedSender({ isOurMainFrame: true, url: 'http://localhost:5173/' }, dev)).toBe(true)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'http://localhost:5174/' }, dev)).toBe(false)
    expect(isTrustedSender({ isOurMainFrame: true, url: 'http://localhost:5173/' }, allowed)).toBe(false)
  })
})
