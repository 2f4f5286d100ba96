// A submission into tasks: batch expansion, "#N" refs, `after` checks and cycles, each refusal naming the field.
import { describe, expect, it } from 'vitest'
import { TaskloopError, type SubmitSpec } from '../../../common/types'
import { executorOf, planSubmit, type PlanContext } from '../../../engine/submit-plan'

function context(known: string[] = []): PlanContext & { issued: string[] } {
  let n = 0
  const issued: string[] = []
  return {
    issued,
    newTaskId: () => {
      issued.push(`t${++n}`)
      return `t${n}`
    },
    newBatchId: () => `b${++n}`,
    known: (id) => known.includes(id),
  }
}

/** The refusal a plan throws: a TaskloopError 'invalid' with the field's path. */
function refusal(spec: SubmitSpec, ctx = context()): TaskloopError {
  try {
    planSubmit(spec, ctx)
  } catch (e) {
    expect(e).toBeInstanceOf(TaskloopError)
    return e as TaskloopError
  }
  throw new Error('the plan was not refused')
}

describe('planSubmit', () => {
  it('a single spec is one task on its executor, its `after` checked against known tasks', () => {
    const plan = planSubmit({ job: 'spin', params: { ms: 1 }, after: ['old'] }, context(['old']))
    expect(plan).toEqual({ batch: null, tasks: [{ id: 't1', spec: { job: 'spin', params: { ms: 1 }, after: ['old'] }, executor: 'thread' }] })
  })

  it('expands a batch: ids, default names, "#N" resolved to sibling ids, batch defaults', () => {
    const plan = planSubmit(
      {
        batch: {
          name: 'nightly',
          tasks: [{ job: 'sleep' }, { name: 'mine', argv: ['true'] }, { job: './x.mjs#report', after: ['#0', '#1', 'old'] }],
        },
      },
      context(['old']),
    )
    expect(plan.batch).toEqual({ id: 'b1', name: 'nightly', concurrency: 3, returnWhen: 'all', timeoutMs: null, onSettled: 'cancel' })
    expect(plan.tasks.map((t) => [t.id, t.spec.name, t.executor])).toEqual([
      ['t2', 'nightly #1', 'loop'],
      ['t3', 'mine', 'command'],
      ['t4', 'nightly #3', 'loop'],
    ])
    expect(plan.tasks[2]!.spec.after).toEqual(['t2', 't3', 'old'])
  })

  it('refuses "#N" out of range, a task waiting for itself, and an unknown id, naming the field', () => {
    const outOfRange = refusal({ batch: { tasks: [{ job: 'sleep' }, { job: 'sleep', after: ['#2'] }] } })
    expect(outOfRange.path).toBe('batch.tasks.1.after.0')
    expect(outOfRange.message).toContain('"#2" names no task of this batch (it has 2)')
    expect(refusal({ batch: { tasks: [{ job: 'sleep', after: ['#0'] }] } }).message).toBe(
      'batch.tasks.0.after.0: a task cannot wait for itself',
    )
    const unknown = refusal({ batch: { tasks: [{ job: 'sleep' }, { job: 'sleep', after: ['#0', 'ghost'] }] } })
    expect(unknown).toMatchObject({ code: 'invalid', path: 'batch.tasks.1.after.1' })
    expect(refusal({ job: 'sleep', after: ['ghost'] })).toMatchObject({ path: 'after.0', message: 'after.0: unknown task id "ghost"' })
  })

  it('refuses a dependency cycle, naming the field and the loop', () => {
    const e = refusal({
      batch: { tasks: [{ job: 'sleep', after: ['#2'] }, { job: 'sleep', after: ['#0'] }, { job: 'sleep', after: ['#1'] }, { job: 'sleep' }] },
    })
    expect(e.code).toBe('invalid')
    expect(e.path).toBe('batch.tasks.0.after')
    expect(e.message).toBe('batch.tasks.0.after: dependency cycle #0 → #2 → #1 → #0')
  })

  it('a diamond is no cycle', () => {
    const plan = planSubmit(
      { batch: { tasks: [{ job: 'sleep' }, { job: 'sleep', after: ['#0'] }, { job: 'sleep', after: ['#0'] }, { job: 'sleep', after: ['#1', '#2'] }] } },
      context(),
    )
    expect(plan.tasks).toHaveLength(4)
  })
})

describe('executorOf', () => {
  it('commands on command, else the spec says, else the built-in default, else loop', () => {
    expect(executorOf({ command: 'true' })).toBe('command')
    expect(executorOf({ job: 'sleep', executor: 'process' })).toBe('process')
    expect(executorOf({ job: 'primes' })).toBe('thread')
    expect(executorOf({ job: 'sleep' })).toBe('loop')
    expect(executorOf({ job: './mine.mjs' })).toBe('loop')
  })
})
