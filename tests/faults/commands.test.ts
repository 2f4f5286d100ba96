// Commands that misbehave: ignore SIGTERM, start a tree of descendants, write 1 GB of output.
import { describe, expect, it } from 'vitest'
import { Engine } from '../../engine/engine'
import { useEngines, waitFor, waitState } from '../helpers/engine'
import { aliveInGroup, survivorsOf, pidOf } from '../helpers/proc'

const newEngine = useEngines(200)

const runningPgid = async (e: Engine, id: string) =>
  pidOf(await waitFor('the command to run', async () => {
    const t = await e.get(id)
    return t.state === 'running' && t.worker
  }))

describe('misbehaving commands', () => {
  for (const how of ['cancel', 'shutdown'] as const) {
    it(`one that ignores SIGTERM and starts a tree of descendants: none survives a ${how}`, async () => {
      const engine = newEngine()
      const { ids: [id] } = await engine.submit({
        name: 'stubborn tree',
        killGraceMs: 500,
        command: 'trap "" TERM; (trap "" TERM; sleep 60 & sleep 60 & wait) & sh -c "sleep 60" & sleep 60 & wait',
      })
      const pgid = await runningPgid(engine, id!)
      await waitFor('the tree to start', async () => aliveInGroup(pgid).length >= 6)
      await new Promise((r) => setTimeout(r, 100)) // traps installed
      if (how === 'cancel') {
        await engine.cancel(id!)
        await waitState(engine, id!, 'cancelled', 5000)
      } else {
        const report = await engine.shutdown({ graceMs: 500 })
        expect(report.forced).toEqual([id])
      }
      expect(await survivorsOf(pgid)).toEqual([])
    })
  }

  it('one that writes 1 GB: memory stays bounded, the log is capped, the engine stays responsive', async () => {
    const engine = newEngine({ limits: { loop: 4 } })
    const rssBefore = process.memoryUsage().rss
    // 1 GiB of x's in lines of 99: 10.8 million lines.
    const { ids: [flood] } = await engine.submit({ name: 'flood', command: "head -c 1073741824 /dev/zero | tr '\\0' x | fold -w 99" })
    await runningPgid(engine, flood!)
    // While it floods, short loop tasks keep finishing in time: the engine thread is not starved.
    const lags: number[] = []
    let peakRss = 0
    for (let i = 0; i < 200 && (await engine.get(flood!)).state === 'running'; i++) {
      const t0 = Date.now()
      const { ids: [probe] } = await engine.submit({ job: 'sleep', params: { ms: 10 } })
      await waitState(engine, probe!, 'done', 5000)
      lags.push(Date.now() - t0)
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }
    const done = await waitState(engine, flood!, ['done', 'failed'], 120_000)
    expect(done.state).toBe('done')
    expect(lags.length).toBeGreaterThan(3)
    expect(Math.max(...lags)).toBeLessThan(1500)
    expect(peakRss - rssBefore).toBeLessThan(400 * 1024 * 1024)
    const detail = await engine.get(flood!)
    expect(detail.log.length).toBeLessThanOrEqual(200)
    // fold cuts the 2^30 x's into lines of 99: the last line holds what is left over.
    const leftover = 1073741824 % 99 // 1: the last line holds a single x
    expect(detail.log.at(-1)!.line).toBe('x'.repeat(leftover))
  }, 150_000)

  it('100,000 submissions in a burst: the excess is refused with a clear error, nothing accepted is lost', async () => {
    const engine = newEngine({ maxPending: 50_000, limits: { loop: 512 } })
    // A subscriber sees every task reach its final state (the engine itself keeps only the newest 20,000 live).
    const finished = new Map<string, string>()
    engine.subscribe((e) => {
      for (const t of e.tasks) if (t.state === 'done' || t.state === 'failed' || t.state === 'cancelled') finished.set(t.id, t.state)
    })
    let accepted = 0
    let refused = 0
    let message = ''
    const ids: string[] = []
    for (let i = 0; i < 100; i++) {
      const tasks = Array.from({ length: 1000 }, () => ({ job: 'sleep', params: { ms: 1 } }))
      try {
        ids.push(...(await engine.submit({ batch: { tasks } })).ids)
        accepted += 1000
      } catch (e) {
        refused += 1000
        message = (e as Error).message
      }
    }
    expect(accepted + refused).toBe(100_000)
    expect(refused).toBeGreaterThan(0)
    expect(message).toMatch(/^queue full: \d+ tasks pending, 1000 more would pass the bound of 50000/)
    await waitFor('every accepted task to finish', async () => finished.size === accepted, 120_000)
    expect(new Set(ids).size).toBe(accepted)
    expect(ids.every((id) => finished.get(id) === 'done')).toBe(true)
  }, 150_000)
})
