// Two processes starting at the same moment on the same data folder, 150 times, each time on a
// folder left by an owner that died (its lock file and owner record still there, naming a dead pid,
// as after a kill -9): exactly one of the two owns the store every time, never both, never neither.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')
const ROUNDS = 150
/** Pairs racing side by side (each on its own folders), to keep the test short. */
const PAIRS = 5

interface Racer {
  child: ChildProcess
  next: () => Promise<string>
}

function racer(): Racer {
  const child = spawn(process.execPath, ['./tests/helpers/ts-run.mjs', 'tests/fixtures/store-racer.ts'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  const waiting: ((line: string) => void)[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiting.shift()
    if (w) w(line)
    else lines.push(line)
  })
  // A racer that died answers "exited" from then on.
  child.once('exit', (code) => {
    lines.push(`exited ${code}`)
    for (const w of waiting.splice(0)) w(`exited ${code}`)
  })
  const next = () => (lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise<string>((r) => waiting.push(r)))
  return { child, next }
}

const racers: Racer[] = []
afterAll(() => {
  for (const r of racers) r.child.kill('SIGKILL')
})

/** A folder whose owner died: its lock files are there, naming a pid that no longer runs. */
function abandonedFolder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-race-'))
  const dead = spawnSync('true').pid
  // The pid lock of earlier versions, and the owner record of this one.
  writeFileSync(path.join(dir, 'taskloop.lock'), String(dead))
  writeFileSync(path.join(dir, 'taskloop.owner.json'), JSON.stringify({ pid: dead, command: 'taskloop serve', since: new Date().toISOString() }))
  // The lock database a killed owner leaves behind (nothing holds it any more).
  writeFileSync(path.join(dir, 'taskloop.lock.db'), '')
  return dir
}

describe('two Taskloops racing for one data folder', () => {
  it(`${ROUNDS} rounds: exactly one owner each time`, { timeout: 240_000 }, async () => {
    const pairs = Array.from({ length: PAIRS }, () => [racer(), racer()] as const)
    racers.push(...pairs.flat())
    const owners: number[] = []
    const race = async ([a, b]: readonly [Racer, Racer]): Promise<void> => {
      const dir = abandonedFolder()
      const at = Date.now() + 60
      a.child.stdin!.write(`${dir} ${at}\n`)
      b.child.stdin!.write(`${dir} ${at}\n`)
      const answers = await Promise.all([a.next(), b.next()])
      expect(answers.filter((x) => x !== 'owner' && x !== 'refused')).toEqual([])
      owners.push(answers.filter((x) => x === 'owner').length)
      a.child.stdin!.write('release\n')
      b.child.stdin!.write('release\n')
      expect(await Promise.all([a.next(), b.next()])).toEqual(['released', 'released'])
    }
    for (let round = 0; round < ROUNDS / PAIRS; round++) await Promise.all(pairs.map(race))
    const both = owners.filter((n) => n === 2).length
    const neither = owners.filter((n) => n === 0).length
    console.log(`lock race: ${owners.length} rounds, both owned in ${both}, neither in ${neither}`)
    expect(owners).toHaveLength(ROUNDS)
    expect({ both, neither }).toEqual({ both: 0, neither: 0 })
  })
})
