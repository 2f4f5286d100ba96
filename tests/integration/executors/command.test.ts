import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { CommandExecutor } from '../../../engine/executors/command'
import { aliveWithArg, killWithArg, survivorsWithArg, uniqueSleep } from '../../helpers/proc'
import { delay, drive, fails, groupMembers, pidOf, succeeds, waitFor } from './harness'

describe('command executor', () => {
  const cmd = new CommandExecutor()
  afterAll(() => cmd.close())

  it('captures stdout and stderr lines, partial last line included', async () => {
    const r = drive(cmd, { command: 'echo one; echo two >&2; printf "three"' })
    expect(await succeeds(r.outcome)).toEqual({ exitCode: 0 })
    expect(r.heard.worker).toMatch(/^pid \d+$/)
    expect(r.heard.logs).toEqual(
      expect.arrayContaining([
        { line: 'one', stream: 'stdout' },
        { line: 'two', stream: 'stderr' },
        { line: 'three', stream: 'stdout' },
      ]),
    )
  })

  it('runs argv directly, with cwd and env', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-cwd-'))
    const r = drive(cmd, { argv: ['sh', '-c', 'pwd; echo "$GREETING"'], cwd: dir, env: { GREETING: 'hello' } })
    await succeeds(r.outcome)
    expect(r.heard.logs.map((l) => l.line)).toEqual([dir, 'hello'])
  })

  it('turns ::progress lines into progress', async () => {
    const r = drive(cmd, { command: 'echo "::progress 0.5 halfway"; echo "::progress 1"; echo "::progress x"' })
    await succeeds(r.outcome)
    expect(r.heard.progress).toEqual([
      [0.5, 'halfway'],
      [1, undefined],
    ])
    expect(r.heard.logs.map((l) => l.line)).toEqual(['::progress x'])
  })

  it('caps an endless line at 64 KiB', async () => {
    const r = drive(cmd, { command: "head -c 200000 /dev/zero | tr '\\0' a; echo; echo after" })
    await succeeds(r.outcome)
    expect(r.heard.logs).toHaveLength(2)
    expect(r.heard.logs[0]!.line.length).toBeLessThan(64 * 1024 + 100)
    expect(r.heard.logs[1]!.line).toBe('after')
  })

  it('reports a missing program, a missing cwd, exit codes and signals clearly', async () => {
    expect(await fails(drive(cmd, { argv: ['no-such-program-xyz'] }).outcome)).toMatchObject({
      kind: 'error',
      message: 'command not found: no-such-program-xyz',
    })
    expect((await fails(drive(cmd, { command: 'true', cwd: '/no/such/dir' }).outcome)).message).toBe('cwd not found: /no/such/dir')
    expect(await fails(drive(cmd, { command: 'exit 3' }).outcome)).toMatchObject({ kind: 'exit-code', message: 'exited with code 3' })
    expect((await fails(drive(cmd, { command: 'no-such-program-xyz' }).outcome)).message).toBe(
      'exited with code 127 (command not found)',
    )
    expect((await fails(drive(cmd, { command: 'kill -9 $$' }).outcome)).message).toBe('killed by SIGKILL')
  })

  it('cancel sends SIGTERM to the group; a command that traps it dies on kill()', async () => {
    const r = drive(cmd, { command: 'trap "" TERM; echo ready; sleep 30' })
    await waitFor(() => r.heard.logs.length > 0, 5000, 'ready')
    const pgid = pidOf(r.heard.worker)
    r.run.cancel()
    const settled = await Promise.race([r.outcome.then(() => true), delay(500).then(() => false)])
    expect(settled).toBe(false)
    expect(r.run.kill()).toBe(true)
    expect(await fails(r.outcome)).toMatchObject({ kind: 'exit-code', message: 'killed by SIGKILL' })
    await waitFor(() => groupMembers(pgid).length === 0, 3000, 'the group to be gone')
  })

  it('leaves no descendant behind after cancel', async () => {
    const r = drive(cmd, { command: 'sleep 30 & sleep 30 & echo started; wait' })
    await waitFor(() => r.heard.logs.length > 0, 5000, 'started')
    const pgid = pidOf(r.heard.worker)
    await waitFor(() => groupMembers(pgid).length >= 3, 5000, 'the group to form')
    r.run.cancel()
    expect((await fails(r.outcome)).kind).toBe('exit-code')
    await waitFor(() => groupMembers(pgid).length === 0, 3000, 'the group to be gone')
  })

  it('settles when the leader exits even if a grandchild holds stdout open, and kills it', async () => {
    const r = drive(cmd, { command: 'sleep 30 & echo leader done' })
    const t = performance.now()
    expect(await succeeds(r.outcome)).toEqual({ exitCode: 0 })
    expect(performance.now() - t).toBeLessThan(3000)
    await waitFor(() => groupMembers(pidOf(r.heard.worker)).length === 0, 3000, 'the group to be gone')
  })

  it('close() kills every live group', async () => {
    const c = new CommandExecutor()
    const r = drive(c, { command: 'trap "" TERM; sleep 30 & sleep 30; wait' })
    await waitFor(() => r.heard.worker !== null)
    const pgid = pidOf(r.heard.worker)
    await waitFor(() => groupMembers(pgid).length >= 2, 5000, 'the group to form')
    expect(c.workers()).toBe(1)
    await c.close()
    expect((await fails(r.outcome)).message).toBe('killed by SIGKILL')
    await waitFor(() => groupMembers(pgid).length === 0, 3000, 'the group to be gone')
    expect(c.workers()).toBe(0)
  })

  // Descendants that leave the process group (setsid, a double fork) are found by the marker every
  // command's environment carries (docs/ARCHITECTURE.md "Processes a command leaves behind").
  describe('descendants that leave the process group', () => {
    const started: string[] = []
    afterEach(() => started.splice(0).forEach(killWithArg))
    const sleeper = (): string => {
      const arg = uniqueSleep()
      started.push(arg)
      return arg
    }

    it('a setsid -f daemon and a plain child: both gone after cancel', async () => {
      const arg = sleeper()
      const r = drive(cmd, { command: `setsid -f sleep ${arg}; echo started; sleep ${arg}` })
      await waitFor(() => aliveWithArg(arg).length >= 2, 5000, 'both sleeps to start')
      r.run.cancel()
      expect((await fails(r.outcome)).kind).toBe('exit-code')
      expect(await survivorsWithArg(arg)).toEqual([])
    })

    it('a double fork with setsid between (a classic daemon): gone after cancel', async () => {
      const arg = sleeper()
      const r = drive(cmd, { command: `(setsid sh -c 'sleep ${arg} & exit' &); sleep ${arg}` })
      await waitFor(() => aliveWithArg(arg).length >= 2, 5000, 'both sleeps to start')
      r.run.cancel()
      await fails(r.outcome)
      expect(await survivorsWithArg(arg)).toEqual([])
    })

    it('a command that exits at once leaving a setsid -f daemon: gone after the task ends', async () => {
      const arg = sleeper()
      const r = drive(cmd, { command: `setsid -f sleep ${arg}; exit 0` })
      expect(await succeeds(r.outcome)).toEqual({ exitCode: 0 })
      expect(await survivorsWithArg(arg)).toEqual([])
    })

    it('a daemon that ignores SIGTERM: gone after kill()', async () => {
      const arg = sleeper()
      const r = drive(cmd, { command: `setsid -f sh -c 'trap "" TERM; sleep ${arg}; sleep ${arg}'; trap "" TERM; sleep ${arg}` })
      await waitFor(() => aliveWithArg(arg).length >= 2, 5000, 'both sleeps to start')
      await delay(100) // the traps are installed
      r.run.cancel()
      await delay(300)
      expect(r.run.kill()).toBe(true)
      await fails(r.outcome)
      expect(await survivorsWithArg(arg)).toEqual([])
    })

    it('the marker adds to an inherited one, so a Taskloop run by a command stays findable by the outer one', async () => {
      const r = drive(cmd, { command: 'echo "$TASKLOOP_RUN"', env: { TASKLOOP_RUN: 'outer.t1.1.abcd' } })
      await succeeds(r.outcome)
      const tokens = r.heard.logs[0]!.line.split(' ')
      expect(tokens).toHaveLength(2)
      expect(tokens[0]).toBe('outer.t1.1.abcd')
      expect(tokens[1]).toMatch(/^[0-9a-f]{12}\.t\d+\.1\.[0-9a-f]{8}$/)
    })

    it('close() ends daemons of live commands', async () => {
      const c = new CommandExecutor()
      const arg = sleeper()
      const r = drive(c, { command: `setsid -f sleep ${arg}; sleep ${arg}` })
      await waitFor(() => aliveWithArg(arg).length >= 2, 5000, 'both sleeps to start')
      await c.close()
      await fails(r.outcome)
      expect(await survivorsWithArg(arg)).toEqual([])
    })
  })
})
