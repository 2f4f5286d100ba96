// User job modules on every executor: same results, progress and logs; broken modules fail clearly
// and leave the pool serving.
import { afterAll, describe, expect, it } from 'vitest'
import type { Executor } from '../../../engine/executors/executor'
import { LoopExecutor } from '../../../engine/executors/loop'
import { ProcessPool } from '../../../engine/executors/process-pool'
import { ThreadPool } from '../../../engine/executors/thread-pool'
import { drive, fails, succeeds } from './harness'
import { jobsDir, modules } from './fixtures'

const executors: Record<'loop' | 'thread' | 'process', Executor> = {
  loop: new LoopExecutor({ cwd: jobsDir, jobsDirs: ['.'] }),
  thread: new ThreadPool({ size: 1, cwd: jobsDir, jobsDirs: ['.'] }),
  process: new ProcessPool({ size: 1, cwd: jobsDir, jobsDirs: ['.'] }),
}
afterAll(() => Promise.all(Object.values(executors).map((e) => e.close())))

describe.each(Object.keys(executors) as Array<keyof typeof executors>)('user job modules on %s', (kind) => {
  const ex = executors[kind]

  it('runs a default export with params and inputs; progress and logs arrive', async () => {
    const r = drive(ex, { job: 'good.mjs', params: { n: 21 } }, [{ from: 'before' }])
    expect(await succeeds(r.outcome)).toEqual({ twice: 42, where: kind, inputs: [{ from: 'before' }] })
    expect(r.heard.progress.at(-1)).toEqual([1, 'part 3'])
    expect(r.heard.logs.filter((l) => l.stream === 'log').map((l) => l.line)).toEqual(['did part 1', 'did part 2', 'did part 3'])
  })

  it('finds a plain name in the jobs folders', async () => {
    expect(await succeeds(drive(ex, { job: 'chatty' }).outcome)).toBe('ok')
  })

  it('fails clearly on broken modules, then runs the next job', async () => {
    const cases: Array<[string, RegExp]> = [
      ['./syntax.mjs', /^job module .*syntax\.mjs failed to load: /],
      ['./throws.mjs', /^job module .*throws\.mjs failed to load: refusing to load$/],
      ['./good.mjs#nope', /^job module .*good\.mjs has no export "nope"$/],
      ['./good.mjs#notAFunction', /^export "notAFunction" of .*good\.mjs is not a function$/],
      ['./missing.mjs', /^job module not found: .*missing\.mjs$/],
      ['no-such-job', /^unknown job "no-such-job" \(built-in jobs: sleep, http, spin/],
    ]
    for (const [job, message] of cases) {
      const f = await fails(drive(ex, { job }).outcome)
      expect(f.kind, job).toBe('error')
      expect(f.message, job).toMatch(message)
    }
    expect(await succeeds(drive(ex, { job: `${modules.good}`, params: { n: 1 } }).outcome)).toMatchObject({ twice: 2 })
  })
})
