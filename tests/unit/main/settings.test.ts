import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readSettings } from '../../../main/settings'

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'taskloop-settings-'))

describe('app settings (userData/settings.json)', () => {
  it('reads job folders, relative to the settings file, plus TASKLOOP_JOBS', () => {
    const d = dir()
    writeFileSync(path.join(d, 'settings.json'), JSON.stringify({ jobsDirs: ['jobs', '/abs/jobs'] }))
    expect(readSettings(path.join(d, 'settings.json'), { TASKLOOP_JOBS: `/x${path.delimiter}/y` })).toEqual({
      jobsDirs: [path.join(d, 'jobs'), '/abs/jobs', '/x', '/y'],
      problem: null,
    })
  })

  it('no file is fine; a broken one is reported, never fatal', () => {
    const d = dir()
    expect(readSettings(path.join(d, 'settings.json'), {})).toEqual({ jobsDirs: [], problem: null })
    writeFileSync(path.join(d, 'settings.json'), '{"jobsDirs": "not a list"}')
    expect(readSettings(path.join(d, 'settings.json'), {}).problem).toMatch(/settings\.json: jobsDirs: /)
    writeFileSync(path.join(d, 'settings.json'), '{oops')
    expect(readSettings(path.join(d, 'settings.json'), {}).problem).toMatch(/is not valid JSON/)
  })
})
