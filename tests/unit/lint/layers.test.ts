// The layer rules of eslint.config.js fire: for every folder and every folder it must not import,
// a fixture that breaks the rule fails the lint; imports the layers allow pass.
import path from 'node:path'
import { ESLint } from 'eslint'
import { beforeAll, describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../../..')
const RULE = '@typescript-eslint/no-restricted-imports'
/** The rules, written out here rather than read from the config, so dropping one there fails here. */
const BANNED: Record<string, string[]> = {
  common: ['main', 'engine', 'cluster', 'server', 'cli', 'preload', 'renderer'],
  engine: ['main', 'cluster', 'server', 'cli', 'preload', 'renderer'],
  cluster: ['main', 'server', 'cli', 'preload', 'renderer'],
  server: ['main', 'cluster', 'cli', 'preload', 'renderer'],
  cli: ['main', 'preload', 'renderer'],
  main: ['server', 'cli', 'preload', 'renderer'],
  preload: ['main', 'engine', 'cluster', 'server', 'cli', 'renderer'],
  renderer: ['main', 'engine', 'cluster', 'server', 'cli', 'preload'],
}

/** A fixture two folders deep, as most files are (e.g. engine/executors/, renderer/src/). */
const fileIn = (folder: string) => path.join(root, folder, 'sub', 'fixture.ts')

let eslint: ESLint
beforeAll(() => {
  eslint = new ESLint({ cwd: root })
})

async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return result!.messages.filter((m) => m.ruleId === RULE || m.fatal).map((m) => m.message)
}

describe('layer rules', () => {
  const broken = Object.entries(BANNED).flatMap(([folder, banned]) => banned.map((target) => [folder, target] as const))

  it.each(broken)('%s/ importing %s/ fails the lint', async (folder, target) => {
    const errors = await layerErrors(fileIn(folder), `import { x } from '../../${target}/x'\nexport const y = x\n`)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`${folder}/ must not import ${target}/`)
  })

  it.each(['common', 'engine', 'server', 'cli', 'renderer'])('%s/ importing electron fails the lint', async (folder) => {
    const errors = await layerErrors(fileIn(folder), `import { app } from 'electron'\nexport const y = app\n`)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/must not import electron/)
  })

  it('catches type-only imports, re-exports and Vue components too', async () => {
    expect(await layerErrors(fileIn('common'), `import type { Engine } from '../engine/engine'\nexport type E = Engine\n`)).toHaveLength(1)
    expect(await layerErrors(fileIn('engine'), `export { serve } from '../../server/server'\n`)).toHaveLength(1)
    const vue = `<script setup lang="ts">\nimport { Engine } from '../../../engine/engine'\nconst e = Engine\n</script>\n<template><p>{{ e }}</p></template>\n`
    expect(await layerErrors(path.join(root, 'renderer/src/components/Fixture.vue'), vue)).toHaveLength(1)
  })

  it("main/'s exception is exactly server/files", async () => {
    for (const other of ['../server/files-extra', '../server/files/x', '../server/static', '../server'])
      expect(await layerErrors(path.join(root, 'main/fixture.ts'), `import { x } from '${other}'\nexport const y = x\n`), other).toHaveLength(1)
  })

  it('lets each layer import what it may', async () => {
    const allowed: [string, string][] = [
      ['engine/executors/fixture.ts', `import type { TaskSpec } from '../../common/types'\nexport type S = TaskSpec\n`],
      ['renderer/src/stores/fixture.ts', `import type { TaskSnapshot } from '../../../common/types'\nexport type S = TaskSnapshot\n`],
      ['main/fixture.ts', `import { app } from 'electron'\nimport { EngineClient } from '../engine/thread/client'\nexport const y = [app, EngineClient]\n`],
      ['preload/fixture.ts', `import { ipcRenderer } from 'electron'\nimport { IPC } from '../common/ipc'\nexport const y = [ipcRenderer, IPC]\n`],
      ['cli/fixture.ts', `import { startServer } from '../server/server'\nexport const y = startServer\n`],
      // The one exception: the Electron shell's app:// protocol resolves files as the server does.
      ['main/fixture.ts', `import { resolveStaticFile } from '../server/files'\nexport const y = resolveStaticFile\n`],
      // A folder of the same name inside a layer is not the top-level one.
      ['engine/thread/fixture.ts', `import { Engine } from '../engine'\nexport const y = Engine\n`],
    ]
    for (const [file, code] of allowed) expect(await layerErrors(path.join(root, file), code), file).toEqual([])
  })
})
