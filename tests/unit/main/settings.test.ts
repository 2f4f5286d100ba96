import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseClusterSettingsUpdate, redactRedisUrl } from '../../../common/schema'
import { clusterSettingsOf, readSettings, saveClusterSettings, withAppSettings } from '../../../main/settings'
import { useEngines, waitState } from '../../helpers/engine'

const newEngine = useEngines()
const dir = () => mkdtempSync(path.join(os.tmpdir(), 'taskloop-settings-'))

describe('app settings (userData/settings.json)', () => {
  it('reads job folders, relative to the settings file, plus TASKLOOP_JOBS', () => {
    const d = dir()
    writeFileSync(path.join(d, 'settings.json'), JSON.stringify({ jobsDirs: ['jobs', '/abs/jobs'] }))
    expect(readSettings(path.join(d, 'settings.json'), { TASKLOOP_JOBS: `/x${path.delimiter}/y` })).toEqual({
      jobsDirs: [path.join(d, 'jobs'), '/abs/jobs', '/x', '/y'],
      cluster: null,
      problem: null,
    })
  })

  it('no file is fine; a broken one is reported, never fatal', () => {
    const d = dir()
    expect(readSettings(path.join(d, 'settings.json'), {})).toEqual({ jobsDirs: [], cluster: null, problem: null })
    writeFileSync(path.join(d, 'settings.json'), '{"jobsDirs": "not a list"}')
    expect(readSettings(path.join(d, 'settings.json'), {}).problem).toMatch(/settings\.json: jobsDirs: /)
    writeFileSync(path.join(d, 'settings.json'), '{oops')
    expect(readSettings(path.join(d, 'settings.json'), {}).problem).toMatch(/is not valid JSON/)
  })
})

describe('cluster settings (redis, nodeId, queues)', () => {
  it('reads the cluster to join, with its password for the connection, and shows it with the password as ***', () => {
    const d = dir()
    const file = path.join(d, 'settings.json')
    writeFileSync(file, JSON.stringify({ redis: 'redis://:s3cret@10.0.0.5:6379', nodeId: 'desk-1', queues: ['taskloop', 'gpu'] }))
    const settings = readSettings(file, {})
    expect(settings.cluster).toEqual({ redis: 'redis://:s3cret@10.0.0.5:6379', nodeId: 'desk-1', queues: ['taskloop', 'gpu'] })
    const shown = clusterSettingsOf(settings)
    expect(shown).toEqual({ source: 'app', redis: 'redis://:***@10.0.0.5:6379', nodeId: 'desk-1', queues: ['taskloop', 'gpu'], problem: null })
    expect(JSON.stringify(shown)).not.toContain('s3cret')
  })

  it('refuses a bad URL, node id or queue name, naming the field and never the password', () => {
    const d = dir()
    const file = path.join(d, 'settings.json')
    for (const [bad, field] of [
      [{ redis: 'http://:hunter2@host:6379' }, 'redis'],
      [{ redis: 'redis://:hunter2@' }, 'redis'],
      [{ redis: 'redis://h:1', nodeId: 'has space' }, 'nodeId'],
      [{ redis: 'redis://h:1', queues: ['a:b'] }, 'queues.0'],
      [{ redis: 'redis://h:1', queues: ['a', 'a'] }, 'queues'],
    ] as const) {
      writeFileSync(file, JSON.stringify(bad))
      const s = readSettings(file, {})
      expect(s.cluster).toBeNull()
      expect(s.problem).toContain(`settings.json: ${field}: `)
      expect(s.problem).not.toContain('hunter2')
      expect(() => parseClusterSettingsUpdate(bad)).toThrow(new RegExp(`^${field.replace('.', '\\.')}: `))
    }
    expect(() => parseClusterSettingsUpdate({ redis: 'rediss://:pw@h:1', extra: 1 })).toThrow(/extra/)
    expect(parseClusterSettingsUpdate(undefined)).toBeUndefined()
    expect(parseClusterSettingsUpdate({ redis: null })).toEqual({ redis: null })
  })

  it('redacts the password of any Redis URL, and of a string that is not one', () => {
    expect(redactRedisUrl('redis://:p%40ss@host:6379')).toBe('redis://:***@host:6379')
    expect(redactRedisUrl('rediss://user:pw@host:6380/2')).toBe('rediss://user:***@host:6380/2')
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379')
    expect(redactRedisUrl('redis://user@host')).toBe('redis://user@host')
    expect(redactRedisUrl('not a url //me:pw@x')).toBe('not a url //***@x')
  })

  it('saves the cluster fields for the next start, keeping the other fields, the saved password behind ***, owner-only', () => {
    const d = dir()
    const file = path.join(d, 'settings.json')
    writeFileSync(file, JSON.stringify({ jobsDirs: ['jobs'], redis: 'redis://:old-secret@a:1' }))
    saveClusterSettings(file, { redis: 'redis://:***@b:2', nodeId: 'n2', queues: ['q1'] })
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ jobsDirs: ['jobs'], redis: 'redis://:old-secret@b:2', nodeId: 'n2', queues: ['q1'] })
    expect(statSync(file).mode & 0o077).toBe(0)
    // A new password replaces the old one; null leaves the cluster (and forgets node and queues).
    saveClusterSettings(file, { redis: 'redis://:new@b:2' })
    expect(readSettings(file, {}).cluster).toEqual({ redis: 'redis://:new@b:2', nodeId: null, queues: [] })
    saveClusterSettings(file, { redis: null, nodeId: 'ignored' })
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ jobsDirs: ['jobs'] })
  })

  it('refuses *** when no password is saved, and refuses to overwrite a broken file', () => {
    const d = dir()
    const file = path.join(d, 'settings.json')
    expect(() => saveClusterSettings(file, { redis: 'redis://:***@h:1' })).toThrow(/type it in full/)
    writeFileSync(file, '{oops')
    expect(() => saveClusterSettings(file, { redis: 'redis://h:1' })).toThrow(/fix settings\.json first/)
    expect(readFileSync(file, 'utf8')).toBe('{oops')
  })
})

describe("the app window's API", () => {
  it('is the engine for every operation but the cluster settings, which the app reads and saves itself; serve refuses to save them', async () => {
    const d = dir()
    const file = path.join(d, 'settings.json')
    writeFileSync(file, JSON.stringify({ jobsDirs: ['jobs'], redis: 'redis://:s3cret@a:1' }))
    const engine = newEngine()
    const api = withAppSettings(engine, file, 'could not join the cluster at redis://:***@a:1: connect ECONNREFUSED')

    const { ids } = await api.submit({ job: 'sleep', params: { ms: 1 } })
    expect((await waitState(api, ids[0]!, 'done')).state).toBe('done')
    expect(await api.cluster()).toMatchObject({ enabled: false })

    expect(await api.clusterSettings()).toEqual({
      source: 'app',
      redis: 'redis://:***@a:1',
      nodeId: null,
      queues: [],
      problem: 'could not join the cluster at redis://:***@a:1: connect ECONNREFUSED',
    })
    expect(await api.clusterSettings({ redis: 'redis://:***@b:2', nodeId: 'desk', queues: ['gpu'] })).toMatchObject({
      redis: 'redis://:***@b:2',
      nodeId: 'desk',
      queues: ['gpu'],
    })
    expect(readSettings(file, {}).cluster).toEqual({ redis: 'redis://:s3cret@b:2', nodeId: 'desk', queues: ['gpu'] })
    // What comes from the window is validated here, where it enters; nothing is written on a refusal.
    await expect(api.clusterSettings({ redis: 'http://:pw@b:2' } as never)).rejects.toMatchObject({ code: 'invalid', path: 'redis' })
    await expect(api.clusterSettings({ redis: 'redis://b:2', nodeId: 'a b' })).rejects.toMatchObject({ code: 'invalid', path: 'nodeId' })
    expect(readSettings(file, {}).cluster?.redis).toBe('redis://:s3cret@b:2')

    // The engine alone (taskloop serve): its flags set the cluster.
    expect(await engine.clusterSettings()).toEqual({ source: 'flags' })
    await expect(engine.clusterSettings({ redis: 'redis://h:1' })).rejects.toMatchObject({ code: 'conflict' })
    await expect(engine.clusterSettings({ redis: 'nope' })).rejects.toMatchObject({ code: 'invalid' })
  })
})
