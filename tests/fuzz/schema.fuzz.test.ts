// Property-based fuzzing of the spec validator: random, malformed and hostile payloads.
// Nothing crashes, nothing hangs, nothing pollutes a prototype, every refusal names the problem.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseLimits, parseListQuery, parseSubmitSpec, parseTaskId } from '../../common/schema'
import { TaskloopError } from '../../common/types'

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000)

/** Accepted, or refused with a TaskloopError('invalid') whose message starts with the field path. */
function checkRefusal(f: () => unknown): void {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(TaskloopError)
    const err = e as TaskloopError
    expect(err.code).toBe('invalid')
    expect(err.path).toBeTruthy()
    expect(err.message.startsWith(`${err.path}: `)).toBe(true)
    expect(err.message.length).toBeLessThan(2000)
  }
}

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'job', 'command', 'argv', 'batch', 'params', 'after', '')
const specLike = fc.record(
  {
    job: fc.oneof(fc.constantFrom('sleep', 'spin', 'x.mjs#run', '#', ''), fc.string(), fc.anything()),
    command: fc.oneof(fc.string(), fc.anything()),
    argv: fc.oneof(fc.array(fc.string()), fc.anything()),
    params: fc.oneof(fc.dictionary(fc.oneof(fc.string(), hostileKey), fc.jsonValue()), fc.anything()),
    executor: fc.oneof(fc.constantFrom('loop', 'thread', 'process', 'gpu'), fc.anything()),
    timeoutMs: fc.oneof(fc.integer(), fc.double(), fc.anything()),
    retries: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.anything()),
    after: fc.oneof(fc.array(fc.string()), fc.anything()),
    name: fc.oneof(fc.string({ maxLength: 300 }), fc.anything()),
  },
  { requiredKeys: [] },
)

describe(`spec validator fuzz (${RUNS} runs per property)`, () => {
  it('any JSON value: accepted or refused naming the field', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkRefusal(() => parseSubmitSpec(v))), { numRuns: RUNS })
  })

  it('spec-shaped objects with wrong types, hostile keys and batches of them', () => {
    fc.assert(
      fc.property(fc.oneof(specLike, fc.record({ batch: fc.record({ tasks: fc.array(specLike, { maxLength: 5 }), concurrency: fc.anything() }) })), (v) =>
        checkRefusal(() => parseSubmitSpec(v)),
      ),
      { numRuns: RUNS },
    )
  })

  it('prototype-pollution payloads from JSON never reach Object.prototype', () => {
    const payloads = [
      '{"job":"sleep","params":{"__proto__":{"polluted":1}}}',
      '{"__proto__":{"polluted":1},"job":"sleep"}',
      '{"job":"sleep","params":{"constructor":{"prototype":{"polluted":1}}}}',
      '{"batch":{"tasks":[{"job":"sleep","__proto__":{"polluted":1}}]}}',
    ]
    for (const p of payloads) checkRefusal(() => parseSubmitSpec(JSON.parse(p)))
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('huge strings and deep nesting are refused quickly, naming the field', () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = { a: deep }
    const t0 = Date.now()
    expect(() => parseSubmitSpec({ job: 'sleep', params: { deep } })).toThrow(/^params: nested deeper than 64 levels/)
    expect(() => parseSubmitSpec({ job: 'sleep', params: { s: 'x'.repeat(2_000_000) } })).toThrow(/^params: larger than/)
    expect(() => parseSubmitSpec({ job: 'x'.repeat(10_000) })).toThrow(/^job: /)
    expect(() => parseSubmitSpec({ command: 'x'.repeat(100_000) })).toThrow(/^command: /)
    expect(Date.now() - t0).toBeLessThan(2000)
  })

  it('ids, list queries and limits: anything goes in, only clean refusals come out', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        checkRefusal(() => parseTaskId(v))
        checkRefusal(() => parseListQuery(v))
        checkRefusal(() => parseLimits(v))
      }),
      { numRuns: RUNS },
    )
  })
})
