// A full or read-only data folder: the error is reported, tasks keep running, nothing crashes.
// Uses a real tmpfs mount (needs root, as on our machines and CI); elsewhere it skips saying why.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { useEngines, waitFinal, waitFor } from '../helpers/engine'

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

  it('a read-only data folder with history in it: reported, history readable, tasks keep running', async () => {
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
    const engine = newEngine({ dataDir: readOnly })
    expect((await engine.list()).length === 3 || (await engine.stats()).store?.error).toBeTruthy()
    const { ids } = await engine.submit(work(10))
    expect((await waitFinal(engine, ids)).every((t) => t.state === 'done')).toBe(true)
    expect(await waitFor('the store error', async () => (await engine.stats()).store?.error)).toMatch(/read-?only|cannot open/i)
  })

  it('a data folder that cannot be opened at all: the engine runs without history and says why', async () => {
    mounted = tryMount()!
    const readOnly = mkdtempSync(path.join(os.tmpdir(), 'taskloop-ro-'))
    execFileSync('mount', ['--bind', mounted, readOnly])
    execFileSync('mount', ['-o', 'remount,bind,ro', readOnly])
    roMounts.push(readOnly)
    const engine = newEngine({ dataDir: path.join(readOnly, 'data') })
    expect((await engine.stats()).store?.error).toMatch(/^cannot open the task store in .*: /)
    expect((await waitFinal(engine, (await engine.submit(work(2))).ids)).map((t) => t.state)).toEqual(['done', 'done'])
  })
})
