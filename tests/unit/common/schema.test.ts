import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { batchSpecSchema, jobSpecSchema, parseLimits, parseListQuery, parseSubmitSpec, parseTaskId } from '../../../common/schema'

const refusal = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    return e as { code: string; path: string; message: string }
  }
  throw new Error('expected a refusal')
}

describe('spec validation', () => {
  it('accepts the example specs of the README', () => {
    const specs = [
      { name: 'fetch page 3', job: 'sleep', params: { ms: 1000 }, executor: 'loop', timeoutMs: 5000, retries: 2, retryDelayMs: 500, priority: 0, after: ['x'], group: 'nightly' },
      { job: 'path/to/module.mjs#exportName' },
      { name: 'build', command: 'npm run build', cwd: '.', env: {}, killGraceMs: 3000, timeoutMs: 600000 },
      { argv: ['npm', 'run', 'build'] },
      { batch: { name: '100 pages', concurrency: 10, failFast: false, tasks: [{ job: 'sleep' }, { command: 'ls' }] } },
    ]
    for (const s of specs) expect(parseSubmitSpec(s)).toEqual(s)
  })

  it.each([
    [{ job: 'sleep', params: 3 }, 'params'],
    [{ job: 'sleep', executor: 'gpu' }, 'executor'],
    [{ job: 'sleep', bogus: 1 }, 'bogus'],
    [{ command: 'ls', argv: ['ls'] }, 'command'],
    [{ argv: [] }, 'argv'],
    [{ nothing: true }, 'job'],
    [{ batch: { tasks: [{ job: 'a' }, { job: 'b', retries: -1 }] } }, 'batch.tasks.1.retries'],
    [{ batch: { tasks: [] } }, 'batch.tasks'],
    [{ job: 'sleep', timeoutMs: 0 }, 'timeoutMs'],
    [{ job: 'a.mjs#not-an-identifier' }, 'job'],
    [null, 'spec'],
    ['sleep', 'spec'],
  ])('refuses %j naming %s', (spec, path) => {
    const e = refusal(() => parseSubmitSpec(spec))
    expect(e.code).toBe('invalid')
    expect(e.path).toBe(path)
    expect(e.message.startsWith(`${path}: `)).toBe(true)
  })

  it('validates ids, list queries and limits', () => {
    expect(parseTaskId('abc')).toBe('abc')
    expect(refusal(() => parseTaskId('')).path).toBe('id')
    expect(refusal(() => parseListQuery({ state: 'stopping' })).path).toBe('state')
    expect(parseListQuery(undefined)).toEqual({})
    expect(refusal(() => parseLimits({ thread: 1.5 })).path).toBe('thread')
    expect(refusal(() => parseLimits({ gpu: 1 })).path).toBe('gpu')
  })
})

describe('after with when (add_done_callback)', () => {
  it('`after: { ids, when }` is `after: ids` with `afterWhen: when`, in a spec and in a batch', () => {
    expect(parseSubmitSpec({ job: 'sleep', after: { ids: ['a', 'b'], when: 'always' } })).toEqual({ job: 'sleep', after: ['a', 'b'], afterWhen: 'always' })
    expect(parseSubmitSpec({ job: 'sleep', after: { ids: ['a'] } })).toEqual({ job: 'sleep', after: ['a'] })
    const batch = parseSubmitSpec({ batch: { tasks: [{ job: 'sleep' }, { job: 'sleep', after: { ids: ['#0'], when: 'failed' } }] } })
    expect(batch).toEqual({ batch: { tasks: [{ job: 'sleep' }, { job: 'sleep', after: ['#0'], afterWhen: 'failed' }] } })
    // The plain list is passed on as it came.
    const plain = { job: 'sleep', after: ['a'], afterWhen: 'always' }
    expect(parseSubmitSpec(plain)).toBe(plain)
  })

  it('refuses an unknown when, unknown fields, and a when that differs from afterWhen, naming the field', () => {
    expect(refusal(() => parseSubmitSpec({ job: 'sleep', after: { ids: ['a'], when: 'sometimes' } })).path).toMatch(/^after/)
    expect(refusal(() => parseSubmitSpec({ job: 'sleep', after: { ids: ['a'], then: 'x' } })).path).toMatch(/^after/)
    const clash = refusal(() => parseSubmitSpec({ batch: { tasks: [{ job: 'sleep', after: { ids: ['x'], when: 'always' }, afterWhen: 'failed' }] } }))
    expect(clash).toMatchObject({ code: 'invalid', path: 'batch.tasks.0.after.when' })
  })
})

describe('plain job specs skip the schema (a fast path for big batches)', () => {
  // Near the edges of each rule the fast path checks itself: it must accept exactly what the schema accepts.
  const value = fc.oneof(
    fc.constantFrom('sleep', 'a/b.mjs#run', 'a/b.mjs#1x', 'x#', '#x', '', 'x'.repeat(4097), 'thread', 'loop', 'gpu'),
    fc.string(),
    fc.integer(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  )
  const spec = fc.record(
    { job: value, params: value, executor: value, name: fc.oneof(value, fc.constant('n'.repeat(201))), retries: fc.integer({ min: -1, max: 2 }) },
    { requiredKeys: ['job'] },
  )

  it('accepts and refuses as jobSpecSchema does, alone and in a batch', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const ok = jobSpecSchema.safeParse(s).success
        const alone = (() => {
          try {
            parseSubmitSpec(s)
            return true
          } catch {
            return false
          }
        })()
        const inBatch = (() => {
          try {
            parseSubmitSpec({ batch: { tasks: [{ job: 'sleep' }, s] } })
            return true
          } catch {
            return false
          }
        })()
        expect([alone, inBatch]).toEqual([ok, ok])
      }),
      { numRuns: 2000 },
    )
  })

  it('checks the fields of a batch of plain specs as batchSpecSchema does', () => {
    const field = fc.oneof(fc.integer({ min: -1, max: 3 }), fc.boolean(), fc.constantFrom('all', 'first', 'firstError', 'leave', 'cancel', 'x'), fc.constant(undefined))
    const batch = fc.record(
      { name: fc.oneof(fc.string({ maxLength: 3 }), fc.integer()), concurrency: field, failFast: field, returnWhen: field, timeoutMs: field, onSettled: field, bogus: field },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(batch, fc.boolean(), (b, extraTopKey) => {
        const value = { batch: { ...b, tasks: [{ job: 'sleep' }, { job: 'sleep', params: { n: 1 } }] }, ...(extraTopKey ? { more: 1 } : {}) }
        const ok = batchSpecSchema.safeParse(value).success
        let accepted = true
        try {
          parseSubmitSpec(value)
        } catch {
          accepted = false
        }
        expect(accepted).toBe(ok)
      }),
      { numRuns: 1000 },
    )
  })

  it('names the bad field of a refused spec in a big batch', () => {
    const tasks: unknown[] = Array.from({ length: 1000 }, (_, i) => ({ job: 'bench.mjs#tiny', executor: 'thread', params: { n: i } }))
    tasks[700] = { job: 'bench.mjs#tiny', executor: 'gpu' }
    expect(refusal(() => parseSubmitSpec({ batch: { tasks } })).path).toBe('batch.tasks.700.executor')
  })
})
