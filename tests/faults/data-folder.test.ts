// A full data folder: the error is reported, tasks keep running, nothing crashes. A read-only one:
// Taskloop refuses to start, saying why. These use a real tmpfs mount (needs root, as on our
// machines and CI); elsewhere they skip saying why. The data folder deleted under a running
// `taskloop serve`: nothing more is acknowledged, and stats say why.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../../engine/engine'
import type { Stats } from '../../common/types'
import { useEngines, waitFinal, waitFor } from '../helpers/engine'
import { CLI_ENTRY } from '../helpers/cli'

function tryMount(): string | null {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    return null
  }
}
const probe = tryMount()
if (probe) execFileSync('umount', [probe])
const canMount = probe !== null
if (!canMount) console.log('data-folder faults skipped: mounting a tmpfs needs root (these run on CI, which is root)')

let mounted: string | null = null
const roMounts: string[] = []
afterEach(() => {
  for (const m of roMounts.splice(0)) execFileSync('umount', ['-l', m])
  if (mounted) {
    execFileSync('umount', ['-l', mounted])
    mounted = null
  }
})
// Registered after the unmounting: Vitest runs after-hooks last-registered first, so engines close first.
const newEngine = useEngines(200)

const work = (n: number) => ({ batch: { tasks: Array.from({ length: n }, (_, i) => ({ name: `w${i}`, job: 'sleep', params: { ms: 20 } })) } })

describe.skipIf(!canMount)('data folder faults (real tmpfs)', () => {
  it('a full disk: the write error is reported, tasks keep running, writes resume when space is back', async () => {
    mounted = tryMount()!
    const engine = newEngine({ dataDir: path.join(mounted, 'data') })
    await waitFinal(engine, (await engine.submit(work(5))).ids)
    const filler = path.join(mounted, 'filler')
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' })
    } catch {
      // dd stops with "No space left on device": that is the point
    }
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: 200 }, (_, i) => ({ name: `after full ${i}`, job: 'sleep', params: { ms: 5 }, group: 'x'.repeat(150) })) } })
    const done = await waitFinal(engine, ids)
    expect(done.every((t) => t.state === 'done')).toBe(true)
    const error = await waitFor('the store error', async () => (await engine.stats()).store?.error)
    expect(error).toMatch(/^cannot write .*taskloop\.db: .*(full|space)/i)
    rmSync(filler)
    await waitFinal(engine, (await engine.submit(work(3))).ids)
    await waitFor('writes to work again', async () => (await engine.stats()).store?.error === null)
  })

  it('a read-only data folder with history in it: refused at start, naming the folder; the history is left as it was', async () => {
    mounted = tryMount()!
    const dataDir = path.join(mounted, 'data')
    const first = newEngine({ dataDir })
    await waitFinal(first, (await first.submit(work(3))).ids)
    await first.shutdown()
    // A read-only bind mount of the same folder (a remount of the tmpfs itself is refused while files are open).
    const readOnly = mkdtempSync(path.join(os.tmpdir(), 'taskloop-ro-'))
    execFileSync('mount', ['--bind', dataDir, readOnly])
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnly])
    roMounts.push(readOnly)
    expect(() => new Engine({ dataDir: readOnly })).toThrow(expect.objectContaining({ problem: 'unreadable', message: `cannot use the data folder ${readOnly}: EROFS: read-only file system, access '${readOnly}'` }))
    const again = new Engine({ dataDir })
    expect(await again.list()).toHaveLength(3)
    await again.shutdown()
  })

  it('a data folder that cannot be created at all: refused at start, naming it and why', async () => {
    mounted = tryMount()!
    const readOnly = mkdtempSync(path.join(os.tmpdir(), 'taskloop-ro-'))
    execFileSync('mount', ['--bind', mounted, readOnly])
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnly])
    roMounts.push(readOnly)
    const dataDir = path.join(readOnly, 'data')
    expect(() => new Engine({ dataDir })).toThrow(
      expect.objectContaining({ problem: 'unreadable', message: expect.stringMatching(new RegExp(`^cannot use the data folder ${dataDir}: `)) }),
    )
  })
})

const root = path.resolve(import.meta.dirname, '../..')
const servers: ChildProcess[] = []
afterEach(() => {
  for (const c of servers.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

describe('the data folder deleted under a running taskloop serve', () => {
  it('the next submission is refused (503, unavailable) and stats say why; nothing is acknowledged that cannot be stored', async () => {
    const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'taskloop-pulled-')), 'data')
    const child = spawn(
      process.execPath,
      [...CLI_ENTRY, 'serve', '--port', '0', '--no-auth', '--data-dir', dataDir],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    servers.push(child)
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d))
    child.stderr!.on('data', (d: Buffer) => (out += d))
    const url = await waitFor('the URL line', async () => /Taskloop UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1], 30_000)
    const submit = () =>
      fetch(`${url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job: 'sleep', params: { ms: 1 } }) })
    expect((await submit()).status).toBe(201)

    rmSync(dataDir, { recursive: true, force: true })
    const started = Date.now()
    const refused = await submit()
    expect(refused.status).toBe(503)
    const body = (await refused.json()) as { code: string; error: string }
    expect(body).toEqual({
      code: 'unavailable',
      error: `the data folder ${dataDir} was deleted or replaced while Taskloop was running: tasks are no longer saved and new ones are refused; restart Taskloop`,
    })
    expect(Date.now() - started).toBeLessThan(60_000)
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as Stats
    expect(stats.store).toEqual({ file: path.join(dataDir, 'taskloop.db'), error: body.error })
    // Nothing recreated the folder behind the user's back.
    expect(existsSync(dataDir)).toBe(false)
    child.kill('SIGTERM')
    expect(await new Promise((r) => child.once('exit', r))).toBe(0)
  })
})
