// The host-only calls a cluster node makes per turn, through a real engine thread: many cluster
// tasks in one submitManyWith (a refused item fails only itself), one finals() read for many tasks,
// and one stream of every cluster task's log lines (followClusterLogs), no subscription per task.
import { describe, expect, it } from 'vitest'
import { startEngineThread } from '../../../engine/thread/client'

describe('cluster calls on the engine thread', () => {
  it('submitManyWith takes the good items and refuses the bad one; finals answers for many at once', async () => {
    const client = await startEngineThread()
    try {
      const run = (id: string) => ({ id, queue: 'q', node: 'n1', allow: ['loop', 'thread'] as const })
      const out = await client.submitManyWith([
        { spec: { job: 'sleep', params: { ms: 5 } }, run: run('c-1') },
        { spec: { command: 'true' }, run: run('c-2') },
        { spec: { job: 'sleep', params: { ms: 60_000 } }, run: run('c-3') },
      ])
      expect(out[0]).toEqual({ ok: true })
      expect(out[1]).toMatchObject({ ok: false, error: { code: 'invalid' } })
      expect(out[2]).toEqual({ ok: true })
      expect(await client.get('c-1')).toMatchObject({ queue: 'q', node: 'n1' })
      await expect(client.get('c-2')).rejects.toMatchObject({ code: 'not-found' })

      // One read for both: it answers once c-1 is final, with c-1 only; an unknown id is named.
      const first = await client.finals(['c-1', 'c-3', 'nope'], 30_000)
      expect(first.unknown).toEqual(['nope'])
      const second = await client.finals(['c-1', 'c-3'], 30_000)
      expect(second.final.map((t) => [t.id, t.state])).toEqual([['c-1', 'done']])
      expect(second.unknown).toEqual([])
      // Nothing final among them: it waits (here: until its time is up) and says so.
      expect((await client.finals(['c-3'], 50)).final).toEqual([])
      const waiting = client.finals(['c-3'], 30_000)
      await client.cancel('c-3')
      expect((await waiting).final.map((t) => [t.id, t.state])).toEqual([['c-3', 'cancelled']])
    } finally {
      await client.shutdown()
    }
  })

  it('followClusterLogs hears the log lines of cluster tasks, not of local ones', async () => {
    const client = await startEngineThread()
    try {
      const heard: { id: string; line: string }[] = []
      client.followClusterLogs((logs) => {
        for (const l of logs) for (const line of l.lines) heard.push({ id: l.id, line: line.line })
      })
      const local = (await client.submit({ command: 'echo local' })).ids[0]!
      expect(await client.submitManyWith([{ spec: { command: 'echo one; echo two' }, run: { id: 'c-log', queue: 'q', node: 'n1' } }])).toEqual([{ ok: true }])
      for (const id of [local, 'c-log']) await client.get(id, { waitMs: 30_000 })
      await expect.poll(() => heard.map((h) => h.line), { timeout: 10_000 }).toEqual(['one', 'two'])
      expect(new Set(heard.map((h) => h.id))).toEqual(new Set(['c-log']))
    } finally {
      await client.shutdown()
    }
  })
})
