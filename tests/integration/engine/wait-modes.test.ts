// The concurrency primitives users reach for, through a real engine on every executor they apply to:
// wait modes (asyncio.wait), errors in gathered results (gather return_exceptions), done callbacks
// (afterWhen), blocking reads (waitMs).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { JOB_EXECUTORS, type BatchSnapshot } from '../../../common/types'
import { useEngines, waitFinal, waitFor } from '../../helpers/engine'

const newEngine = useEngines()

function jobsDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-prim-'))
  writeFileSync(
    path.join(dir, 'jobs.mjs'),
    [
      'class QuotaError extends Error { name = "QuotaError" }',
      'export async function boom(params) {',
      '  if (params.afterMs) await new Promise((r) => setTimeout(r, params.afterMs))',
      '  const e = new QuotaError(params.message ?? "over quota")',
      '  if (params.code !== undefined) e.code = params.code',
      '  throw e',
      '}',
      'export async function echo(params, ctx) { return { inputs: ctx.inputs } }',
      '',
    ].join('\n'),
  )
  return dir
}

const settled = (engine: ReturnType<typeof newEngine>, id: string) =>
  waitFor<BatchSnapshot>(`batch ${id} to finish`, async () => {
    const b = await engine.batch(id)
    return b.state !== 'running' ? b : undefined
  })

describe.each(JOB_EXECUTORS)('on the %s executor', (executor) => {
  it("a thrown error keeps its name and custom code (string or number); a batch's failed slot says so", async () => {
    const engine = newEngine({ cwd: jobsDir() })
    const { ids, batchId } = await engine.submit({
      batch: {
        tasks: [
          { job: 'sleep', params: { ms: 1 }, executor },
          { job: './jobs.mjs#boom', params: { code: 'E_QUOTA' }, executor },
          { job: './jobs.mjs#boom', params: { code: 429, message: 'slow down' }, executor },
          { job: 'fail', params: { message: 'plain' }, executor },
        ],
      },
    })
    const tasks = await waitFinal(engine, ids)
    expect(tasks[1]!.error).toMatchObject({ name: 'QuotaError', code: 'E_QUOTA', message: 'over quota' })
    expect(tasks[2]!.error).toMatchObject({ name: 'QuotaError', code: 429 })
    const b = await engine.batch(batchId!)
    expect(b.results).toEqual([
      { ms: 1 },
      { error: { name: 'QuotaError', message: 'over quota', code: 'E_QUOTA' } },
      { error: { name: 'QuotaError', message: 'slow down', code: 429 } },
      { error: { name: 'Error', message: 'plain', code: null } },
    ])
  })

  it('the http job fails on a status ≥ 400 (HttpError, code = status) and returns status, headers and parsed JSON', async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/gone' ? 410 : 200
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ path: req.url }))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const engine = newEngine()
      const { ids } = await engine.submit({
        batch: {
          tasks: [
            { job: 'http', params: { url: `${base}/ok` }, executor },
            { job: 'http', params: { url: `${base}/gone` }, executor },
            { job: 'http', params: { url: `${base}/gone`, okStatus: ['400-499'] }, executor },
          ],
        },
      })
      const [ok, gone, accepted] = await waitFinal(engine, ids)
      expect(ok).toMatchObject({ state: 'done', result: { status: 200, headers: { 'content-type': 'application/json' }, body: { path: '/ok' } } })
      expect(gone).toMatchObject({ state: 'failed', reason: 'error', error: { name: 'HttpError', code: 410 } })
      expect(gone!.error!.message).toContain('HTTP 410')
      expect(accepted).toMatchObject({ state: 'done', result: { status: 410, body: { path: '/gone' } } })
    } finally {
      server.close()
    }
  })

  it('returnWhen "first": the first to finish settles the batch and the rest are cancelled (batch-settled)', async () => {
    const engine = newEngine()
    const { ids, batchId } = await engine.submit({
      batch: {
        returnWhen: 'first',
        tasks: [
          { job: 'sleep', params: { ms: 30_000 }, executor },
          { job: 'sleep', params: { ms: 50 }, executor },
          { job: 'sleep', params: { ms: 30_000 }, executor },
        ],
      },
    })
    const b = await settled(engine, batchId!)
    expect(b).toMatchObject({ settledBy: 'first', state: 'cancelled' })
    expect(b.completed[0]).toBe(ids[1])
    expect(new Set(b.completed)).toEqual(new Set(ids))
    const rest = await waitFinal(engine, [ids[0]!, ids[2]!])
    for (const t of rest) expect([t.state, t.reason]).toEqual(['cancelled', 'batch-settled'])
    expect(b.results[1]).toEqual({ ms: 50 })
    expect(b.results[0]).toEqual({ error: { name: 'CancelledError', message: 'cancelled (batch-settled)', code: 'batch-settled' } })
  })

  it('returnWhen "firstError" (failFast): the first failure cancels the rest (fail-fast)', async () => {
    const engine = newEngine()
    const { ids, batchId } = await engine.submit({
      batch: {
        returnWhen: 'firstError',
        tasks: [
          { job: 'sleep', params: { ms: 20 }, executor },
          { job: 'fail', params: { afterMs: 100 }, executor },
          { job: 'sleep', params: { ms: 30_000 }, executor },
        ],
      },
    })
    const b = await settled(engine, batchId!)
    expect(b).toMatchObject({ settledBy: 'firstError', failFast: true, state: 'failed' })
    expect(b.completed.indexOf(ids[1]!)).toBeLessThan(b.completed.indexOf(ids[2]!))
    expect((await engine.get(ids[2]!)).reason).toBe('fail-fast')
  })

  it('timeoutMs: the batch settles at its deadline; what finished keeps its result, the rest are cancelled', async () => {
    const engine = newEngine()
    // Pools started first: the deadline counts from submit, and a busy machine starts processes slowly.
    await engine.warm()
    const { ids, batchId } = await engine.submit({
      batch: {
        timeoutMs: 5000,
        tasks: [
          { job: 'sleep', params: { ms: 10 }, executor },
          { job: 'sleep', params: { ms: 60_000 }, executor },
        ],
      },
    })
    const b = await settled(engine, batchId!)
    expect(b).toMatchObject({ settledBy: 'timeout', timeoutMs: 5000, completed: ids })
    expect(b.results[0]).toEqual({ ms: 10 })
    expect((await engine.get(ids[1]!)).reason).toBe('batch-settled')
  })

  it('afterWhen "always": the follower runs after a failure and gets each result or error in ctx.inputs', async () => {
    const engine = newEngine({ cwd: jobsDir() })
    const { ids } = await engine.submit({
      batch: {
        tasks: [
          { job: 'sleep', params: { ms: 5 }, executor },
          { job: './jobs.mjs#boom', params: { code: 7 }, executor },
          { job: './jobs.mjs#echo', after: ['#0', '#1'], afterWhen: 'always', executor },
          { job: './jobs.mjs#echo', after: ['#0', '#1'], afterWhen: 'failed', executor },
          { job: './jobs.mjs#echo', after: ['#0'], afterWhen: 'failed', executor },
          { job: './jobs.mjs#echo', after: ['#0', '#1'], executor },
        ],
      },
    })
    const tasks = await waitFinal(engine, ids)
    const inputs = [{ ms: 5 }, { error: { name: 'QuotaError', message: 'over quota', code: 7 } }]
    expect(tasks[2]).toMatchObject({ state: 'done', result: { inputs } })
    expect(tasks[3]).toMatchObject({ state: 'done', result: { inputs } })
    // "failed" with no failed predecessor, "done" with one: not run.
    expect([tasks[4]!.state, tasks[4]!.reason]).toEqual(['cancelled', 'dependency'])
    expect([tasks[5]!.state, tasks[5]!.reason]).toEqual(['cancelled', 'dependency'])
  })
})

describe('wait modes and blocking reads', () => {
  it('completed lists the ids in the order they finished (as_completed)', async () => {
    const engine = newEngine()
    const { ids, batchId } = await engine.submit({
      batch: { tasks: [600, 20, 300].map((ms) => ({ job: 'sleep', params: { ms } })) },
    })
    const b = await engine.batch(batchId!, { waitMs: 30_000 })
    expect(b.state).toBe('done')
    expect(b.settledBy).toBe('all')
    expect(b.completed).toEqual([ids[1], ids[2], ids[0]])
  })

  it('onSettled "leave": the batch settles on the first, the rest run on to done; waitMs answers at the settle', async () => {
    const engine = newEngine()
    const { ids, batchId } = await engine.submit({
      batch: {
        returnWhen: 'first',
        onSettled: 'leave',
        tasks: [
          { job: 'sleep', params: { ms: 30 } },
          { job: 'sleep', params: { ms: 1500 } },
        ],
      },
    })
    const b = await engine.batch(batchId!, { waitMs: 30_000 })
    expect(b.settledBy).toBe('first')
    expect(b.completed).toEqual([ids[0]])
    expect(b.state).toBe('running')
    // Settled already: a wait answers at once from now on, with the left task still running.
    expect((await engine.batch(batchId!, { waitMs: 30_000 })).state).toBe('running')
    expect(await settled(engine, batchId!)).toMatchObject({ state: 'done', settledBy: 'first', completed: [ids[0], ids[1]] })
  })

  it('returnWhen "first": cancelling one racer does not settle the batch; at shutdown the rest end as "shutdown"', async () => {
    const engine = newEngine()
    const { ids, batchId } = await engine.submit({
      batch: { returnWhen: 'first', concurrency: 1, tasks: [30_000, 30_000, 30_000].map((ms) => ({ job: 'sleep', params: { ms } })) },
    })
    await engine.cancel(ids[2]!)
    expect(await engine.batch(batchId!)).toMatchObject({ settledBy: null, completed: [ids[2]] })
    await engine.shutdown({ graceMs: 2000 })
    const tasks = await Promise.all(ids.map((id) => engine.get(id)))
    expect(tasks.map((t) => [t.state, t.reason])).toEqual([
      ['cancelled', 'shutdown'],
      ['cancelled', 'shutdown'],
      ['cancelled', 'user'],
    ])
  })

  it('get with waitMs answers when the task settles, or after waitMs with the task as it is', async () => {
    const engine = newEngine()
    const { ids: [quick] } = await engine.submit({ job: 'sleep', params: { ms: 200 } })
    expect((await engine.get(quick!, { waitMs: 30_000 })).state).toBe('done')
    const { ids: [slow] } = await engine.submit({ job: 'sleep', params: { ms: 60_000 } })
    const t0 = Date.now()
    const t = await engine.get(slow!, { waitMs: 150 })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
    expect(['pending', 'running']).toContain(t.state)
  })

  it('refuses a waitMs past a minute, and a batch that names failFast and another returnWhen', async () => {
    const engine = newEngine()
    const { ids: [id] } = await engine.submit({ job: 'sleep', params: { ms: 1 } })
    await expect(engine.get(id!, { waitMs: 120_000 })).rejects.toMatchObject({ code: 'invalid', path: 'waitMs' })
    await expect(
      engine.submit({ batch: { failFast: true, returnWhen: 'first', tasks: [{ job: 'sleep', params: { ms: 1 } }] } }),
    ).rejects.toMatchObject({ code: 'invalid', path: 'batch.failFast' })
  })
})
