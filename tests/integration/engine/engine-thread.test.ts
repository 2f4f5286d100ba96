// The engine thread dying (here: a loop job calls process.exit, which ends the thread it runs on):
// the client starts a new one, tasks are recovered from the store, subscribers are told, no process is left.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EngineEvent, Snapshot } from '../../../common/types'
import { startEngineThread } from '../../../engine/thread/client'
import { waitFor, waitState } from '../../helpers/engine'
import { aliveInGroup, pidOf } from '../../helpers/proc'

describe('engine thread supervision', () => {
  it('restarts a dead engine thread, marks running tasks interrupted, tells subscribers, kills orphans', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-die-'))
    writeFileSync(path.join(dir, 'jobs.mjs'), 'export async function die() { await new Promise((r) => setTimeout(r, 300)); process.exit(3) }\n')
    const client = await startEngineThread({ cwd: dir, dataDir: path.join(dir, 'data') })
    const events: EngineEvent[] = []
    client.subscribe((e) => events.push(e))
    const { ids: [long] } = await client.submit({ name: 'long', job: 'sleep', params: { ms: 60_000 } })
    const { ids: [cmd] } = await client.submit({ name: 'tree', command: 'sleep 60 & sleep 60 & wait' })
    const pgid = pidOf(await waitFor('command pid', async () => (await client.get(cmd!)).worker))
    await waitFor('grandchildren', async () => aliveInGroup(pgid).length >= 3)
    await waitState(client, long!, 'running')
    await new Promise((r) => setTimeout(r, 100)) // one event batch: "running" is in the store
    await client.submit({ name: 'killer', job: './jobs.mjs#die' })

    const notice = await waitFor('a snapshot with a notice', async () => events.find((e): e is Snapshot => e.type === 'snapshot' && !!e.notice))
    expect(notice.notice).toMatch(/^The engine thread stopped unexpectedly \(exit code 3\) and was restarted/)
    expect(await client.get(long!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    expect(await client.get(cmd!)).toMatchObject({ state: 'failed', reason: 'interrupted' })
    await waitFor('the orphaned command group to be gone', async () => aliveInGroup(pgid).length === 0, 5000)
    // The new engine thread works.
    const { ids: [after] } = await client.submit({ job: 'sleep', params: { ms: 5 } })
    expect((await waitState(client, after!, 'done')).state).toBe('done')
    await client.shutdown()
  })
})
