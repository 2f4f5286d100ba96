// Bad input is refused at submit, naming the field; failing jobs become failed tasks with a reason; nothing else breaks.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { useEngines, waitFinal, waitState } from '../../helpers/engine'

const newEngine = useEngines()

describe('failures', () => {
  it('a timeout counts from start, not from enqueue, and fails with reason timeout', async () => {
    const engine = newEngine({ limits: { loop: 1 } })
    const { ids: [blocker] } = await engine.submit({ job: 'sleep', params: { ms: 700 } })
    const { ids: [id] } = await engine.submit({ job: 'sleep', params: { ms: 5000 }, timeoutMs: 500 })
    const t = await waitState(engine, id!, 'failed', 8000)
    expect((await engine.get(blocker!)).state).toBe('done') // waited 700 ms in the queue without timing out
    expect(t.reason).toBe('timeout')
    expect(t.error?.message).toBe('timed out after 500 ms')
    expect(t.endedAt! - t.startedAt!).toBeGreaterThanOrEqual(480)
    expect(t.endedAt! - t.startedAt!).toBeLessThan(3000)
  })

  it('a job that throws fails with its message; retries run again with attempt + 1', async () => {
    const engine = newEngine()
    const { ids: [once] } = await engine.submit({ job: 'fail', params: { message: 'disk on fire', afterMs: 5 } })
    const { ids: [thrice] } = await engine.submit({ job: 'fail', params: { message: 'flaky', afterMs: 5 }, retries: 2, retryDelayMs: 20 })
    const [a, b] = await waitFinal(engine, [once!, thrice!])
    expect(a).toMatchObject({ state: 'failed', reason: 'error', attempt: 1, error: { message: 'disk on fire' } })
    expect(b).toMatchObject({ state: 'failed', reason: 'error', attempt: 3 })
    const { log } = await engine.get(thrice!)
    expect(log.filter((l) => l.line.includes('retrying'))).toHaveLength(2)
  })

  it('a thread job that crashes its worker fails as crashed, and the pool goes on', async () => {
    const engine = newEngine({ limits: { thread: 1 } })
    const { ids } = await engine.submit({
      batch: { tasks: [{ job: 'crash', params: { afterMs: 10 } }, { job: 'spin', params: { ms: 50 } }, { job: 'primes', params: { below: 1000 } }] },
    })
    const [crash, spin, primes] = await waitFinal(engine, ids)
    expect(crash).toMatchObject({ state: 'failed', reason: 'crashed', executor: 'thread' })
    expect(spin!.state).toBe('done')
    expect(primes).toMatchObject({ state: 'done', result: { count: 168, largest: 997 } })
  })

  it('a process job that exits fails as crashed, and the pool goes on', async () => {
    const engine = newEngine({ limits: { process: 1 } })
    const { ids } = await engine.submit({
      batch: { tasks: [{ job: 'crash', executor: 'process', params: { afterMs: 10 } }, { job: 'sleep', executor: 'process', params: { ms: 10 } }] },
    })
    const [crash, next] = await waitFinal(engine, ids)
    expect(crash).toMatchObject({ state: 'failed', reason: 'crashed' })
    expect(next!.state).toBe('done')
  })

  it('commands: not found, non-zero exit, output captured', async () => {
    const engine = newEngine()
    const { ids } = await engine.submit({
      batch: { tasks: [{ argv: ['no-such-program-xyz'] }, { command: 'echo out; echo err >&2; exit 3' }, { command: 'no-such-program-xyz' }] },
    })
    const [missing, exit3, shMissing] = await waitFinal(engine, ids)
    expect(missing).toMatchObject({ state: 'failed', reason: 'error', error: { message: 'command not found: no-such-program-xyz' } })
    expect(exit3).toMatchObject({ state: 'failed', reason: 'exit-code', error: { message: 'exited with code 3' } })
    expect(shMissing).toMatchObject({ state: 'failed', reason: 'exit-code' })
    expect(shMissing!.error!.message).toContain('127')
    const { log } = await engine.get(exit3!.id)
    expect(log.map((l) => [l.stream, l.line])).toEqual([
      ['stdout', 'out'],
      ['stderr', 'err'],
    ])
  })

  it('an unknown job, a missing module or export and out-of-range params are refused at submit, naming the field', async () => {
    const engine = newEngine()
    await expect(engine.submit({ job: 'nope' })).rejects.toMatchObject({ code: 'invalid', path: 'job', message: expect.stringMatching(/^job: unknown job "nope"/) })
    await expect(engine.submit({ batch: { tasks: [{ job: 'sleep', params: { ms: 1 } }, { job: './missing/jobs.mjs#run', executor: 'thread' }] } })).rejects.toMatchObject({
      code: 'invalid',
      path: 'batch.tasks.1.job',
      message: expect.stringMatching(/job module not found/),
    })
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-jobs-'))
    writeFileSync(path.join(dir, 'ok.mjs'), 'export const run = async () => 1\n')
    writeFileSync(path.join(dir, 'throws.mjs'), 'throw new Error("refusing to load")\n')
    await expect(engine.submit({ job: `${dir}/ok.mjs#other` })).rejects.toMatchObject({ code: 'invalid', path: 'job', message: expect.stringMatching(/has no export "other"/) })
    await expect(engine.submit({ job: 'sleep', params: { ms: -5 } })).rejects.toMatchObject({ code: 'invalid', path: 'params.ms', message: 'params.ms: ms must be 0 or more' })
    await expect(engine.submit({ job: 'sleep', params: { ms: 'soon' } })).rejects.toMatchObject({ path: 'params.ms', message: 'params.ms: ms must be a number' })
    expect(await engine.list()).toEqual([])
    // What exists is taken: a module that throws when loaded fails its task, with the load error.
    const { ids } = await engine.submit({ batch: { tasks: [{ job: `${dir}/ok.mjs#run` }, { job: `${dir}/throws.mjs` }] } })
    const [ok, broken] = await waitFinal(engine, ids)
    expect(ok).toMatchObject({ state: 'done', result: 1 })
    expect(broken).toMatchObject({ state: 'failed', reason: 'error' })
    expect(broken!.error!.message).toMatch(/failed to load: refusing to load$/)
  })

  it('a spec that does not validate is refused naming the field, and nothing is queued', async () => {
    const engine = newEngine()
    await expect(engine.submit({ job: 'sleep', executor: 'gpu' } as never)).rejects.toMatchObject({ code: 'invalid', path: 'executor' })
    await expect(engine.submit({ batch: { tasks: [{ job: 'sleep' }, { command: 'ls', argv: ['ls'] }] } })).rejects.toMatchObject({
      code: 'invalid',
      path: 'batch.tasks.1.command',
    })
    await expect(engine.submit({ job: 'sleep', after: ['ghost'] })).rejects.toMatchObject({ code: 'invalid', path: 'after.0' })
    expect(await engine.list()).toEqual([])
  })
})
