import { mkdirSync, mkdtempSync, writeFileSync, utimesSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { BUILTINS } from '../../../engine/jobs/builtins'
import { loadJob } from '../../../engine/jobs/resolve'

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-resolve-'))
const write = (rel: string, text: string): string => {
  const file = path.join(dir, rel)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, text)
  return file
}
write('mod.mjs', 'export default () => "default"\nexport const named = () => "named"\nexport const value = 1\n')
write('lib/tools.mjs', 'export const tool = () => "tool"\n')
write('lib/broken.mjs', 'export const = \n')
write('bad/syntax.mjs', 'const a = ;\n')
write('bad/throws.mjs', 'throw new Error("no import for you")\n')

const opts = { cwd: dir }

describe('loadJob', () => {
  it('finds built-ins by name', async () => {
    expect(await loadJob('sleep', opts)).toBe(BUILTINS.sleep)
  })

  it('loads module#export relative to cwd, default export without #', async () => {
    expect(await (await loadJob('mod.mjs', opts))({}, {} as never)).toBe('default')
    expect(await (await loadJob('./mod.mjs#named', opts))({}, {} as never)).toBe('named')
    expect(await (await loadJob(path.join(dir, 'mod.mjs#named'), { cwd: '/' }))({}, {} as never)).toBe('named')
  })

  it('finds plain names in jobs folders, skipping broken neighbours', async () => {
    expect(await (await loadJob('tool', { cwd: dir, jobsDirs: ['lib'] }))({}, {} as never)).toBe('tool')
  })

  it('says what is wrong', async () => {
    await expect(loadJob('nope', opts)).rejects.toThrow(
      'unknown job "nope" (built-in jobs: sleep, http, spin, primes, hash, ticker, fail, crash, produce, consume, counter, fanout, sleep-seconds)',
    )
    await expect(loadJob('nope', { cwd: dir, jobsDirs: ['lib'] })).rejects.toThrow(/unknown job "nope" .*jobs folders: lib\)$/)
    await expect(loadJob('missing.mjs', opts)).rejects.toThrow(`job module not found: ${path.join(dir, 'missing.mjs')}`)
    await expect(loadJob('mod.mjs#other', opts)).rejects.toThrow(`job module ${path.join(dir, 'mod.mjs')} has no export "other"`)
    await expect(loadJob('mod.mjs#value', opts)).rejects.toThrow(`export "value" of ${path.join(dir, 'mod.mjs')} is not a function`)
    await expect(loadJob('bad/syntax.mjs', opts)).rejects.toThrow(
      new RegExp(`^job module ${path.join(dir, 'bad/syntax.mjs')} failed to load: .+`),
    )
    await expect(loadJob('bad/throws.mjs', opts)).rejects.toThrow(/failed to load: no import for you$/)
  })

  it('picks up an edited module without a restart', async () => {
    const file = write('edit.mjs', 'export default () => 1\n')
    expect(await (await loadJob('edit.mjs', opts))({}, {} as never)).toBe(1)
    writeFileSync(file, 'export default () => 2\n')
    const later = new Date(Date.now() + 5000)
    utimesSync(file, later, later)
    expect(await (await loadJob('edit.mjs', opts))({}, {} as never)).toBe(2)
  })
})
