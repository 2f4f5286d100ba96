// The promise of common/operations.ts: an operation is written out in its declaration, the engine
// and its UI, nowhere else; every transport is derived from the table.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { INVOKE } from '../../../common/ipc'
import { OPERATIONS, OPERATION_NAMES } from '../../../common/operations'
import * as schema from '../../../common/schema'
import { CALLS } from '../../../engine/thread/protocol'

const root = path.resolve(import.meta.dirname, '../../..')
const SOURCE_DIRS = ['common', 'main', 'engine', 'server', 'cli', 'preload', 'renderer']

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(rel)
    return /\.(ts|vue|mjs)$/.test(entry.name) ? [rel] : []
  })
}

const files = SOURCE_DIRS.flatMap(sources).map((file) => ({ file, text: readFileSync(path.join(root, file), 'utf8') }))

/** `grep -rlw name` over the non-test sources. */
const naming = (name: string): string[] =>
  files.filter(({ text }) => new RegExp(`\\b${name}\\b`).test(text)).map(({ file }) => file)

/**
 * Where an operation may be written out: its declaration, the engine that implements it, a UI that
 * uses it, and the Electron app's settings for the one the app answers itself (its settings.json).
 */
function placeOf(file: string): 'declaration' | 'engine' | 'host' | 'ui' | null {
  if (file === 'common/operations.ts') return 'declaration'
  if (file === 'main/settings.ts') return 'host'
  if (file.startsWith('engine/') && !file.startsWith('engine/thread/')) return 'engine'
  if ((file.startsWith('renderer/src/') && !file.startsWith('renderer/src/api/')) || file.startsWith('cli/')) return 'ui'
  return null
}

/** The transports: derived from the table, they name no operation. */
const TRANSPORTS = [
  'common/api.ts',
  'common/ipc.ts',
  'engine/thread/protocol.ts',
  'engine/thread/client.ts',
  'engine/thread/engine-thread.ts',
  'engine/handle.ts',
  'main/ipc.ts',
  'main/ipc-handlers.ts',
  'preload/index.ts',
  'renderer/src/api/electron.ts',
  'renderer/src/api/http.ts',
  'renderer/src/api/index.ts',
  'server/routes.ts',
]

/** What a transport does beyond the table, on purpose. */
const OVERRIDES: Record<string, string[]> = {
  // The host thread adds its own event-loop delay to the engine's stats; a restart resyncs subscribers with a snapshot.
  'engine/thread/client.ts': ['stats', 'snapshot'],
  // subscribe asks for a snapshot; over the WebSocket it comes in order with the event batches.
  'renderer/src/api/electron.ts': ['snapshot'],
  'renderer/src/api/http.ts': ['snapshot'],
}

const stripComments = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')

/** A use or definition of an API method: `engine.get(`, `this.stats(`, `get(id) {`, `get: (`, `'get'` as a call name. */
const mentions = (text: string, name: string): boolean =>
  new RegExp(
    `\\b(?:engine|api|bridge|client|this)\\.${name}\\b|^\\s*(?:async\\s+)?${name}\\s*(?:\\(|:|<)|\\b(?:call|invoke)\\w*\\(\\s*'${name}'`,
    'm',
  ).test(stripComments(text))

describe('one declaration per operation', () => {
  it('no transport names an operation: each is derived from the table', () => {
    const found: string[] = []
    for (const file of TRANSPORTS) {
      const text = readFileSync(path.join(root, file), 'utf8')
      for (const name of OPERATION_NAMES) {
        if (mentions(text, name) && !OVERRIDES[file]?.includes(name)) found.push(`${file}: ${name}`)
      }
    }
    expect(found).toEqual([])
  })

  it('an operation with a name of its own is written out only in its declaration, the engine and its UI', () => {
    // Everyday words (get, list, batch, cancel...) also name maps, events and states; these cannot.
    const distinct = OPERATION_NAMES.filter((name) => /[A-Z]/.test(name))
    expect(distinct.length).toBeGreaterThanOrEqual(3)
    for (const name of distinct) {
      const where = naming(name)
      expect(where, name).toContain('common/operations.ts')
      expect(where.filter((file) => placeOf(file) === null), name).toEqual([])
    }
    // The measure of the issue: setGroupLimit is in the declaration, the engine and its UI (the
    // Limits panel), nowhere else.
    expect(naming('setGroupLimit').sort()).toEqual(['common/operations.ts', 'engine/engine.ts', 'renderer/src/components/Limits.vue'])
  })

  it('derives the IPC channels and the engine-thread calls from the table, keeping the channel names', () => {
    for (const name of OPERATION_NAMES) expect(CALLS).toContain(name)
    expect(INVOKE).toMatchObject({
      submit: 'taskloop:submit',
      cancelAll: 'taskloop:cancel-all',
      setLimits: 'taskloop:set-limits',
      setGroupLimit: 'taskloop:set-group-limit',
      watchLog: 'taskloop:watch-log',
      unwatchLog: 'taskloop:unwatch-log',
    })
    expect(new Set(Object.values(INVOKE)).size).toBe(Object.keys(INVOKE).length)
  })

  it('declares a parser the schema module has, one HTTP route per method and path, a path argument only with :id', () => {
    const routes = new Set<string>()
    for (const name of OPERATION_NAMES) {
      const { parse, http } = OPERATIONS[name] as { parse?: keyof typeof schema; http: (typeof OPERATIONS)[typeof name]['http'] }
      if (parse) expect(typeof schema[parse], name).toBe('function')
      else expect(http.args, name).toEqual([])
      const route = `${http.method} ${http.path}`
      expect(routes.has(route), route).toBe(false)
      routes.add(route)
      expect(http.path.includes(':id'), name).toBe(http.args.includes('path'))
    }
  })
})
