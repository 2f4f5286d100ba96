// The built-in jobs: enough to exercise every path (I/O wait, CPU, progress, failure, crash).
// Each validates its params and throws a TypeError naming the bad one.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleepFor } from 'node:timers/promises'
import type { BuiltinJob } from '../../common/types'
import type { JobContext, JobFn } from './job'

type Params = Record<string, unknown>

function num(job: string, params: Params, key: string, opts: { int?: boolean; max?: number; default?: number } = {}): number {
  const v = params[key] ?? opts.default
  const kind = opts.int ? 'integer' : 'number'
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (opts.int && !Number.isInteger(v)))
    throw new TypeError(`${job}: params.${key} must be a non-negative ${kind}`)
  if (opts.max !== undefined && v > opts.max) throw new TypeError(`${job}: params.${key} must be at most ${opts.max}`)
  return v
}

function bool(job: string, params: Params, key: string): boolean {
  const v = params[key] ?? false
  if (typeof v !== 'boolean') throw new TypeError(`${job}: params.${key} must be a boolean`)
  return v
}

function str(job: string, params: Params, key: string, fallback?: string): string {
  const v = params[key] ?? fallback
  if (typeof v !== 'string' || v === '') throw new TypeError(`${job}: params.${key} must be a non-empty string`)
  return v
}

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError')

/** Lets the event loop breathe (messages, cancel) and stops if the run was cancelled. */
async function yieldAndCheck(signal: AbortSignal): Promise<void> {
  await new Promise((r) => setImmediate(r))
  if (signal.aborted) throw abortError(signal)
}

/** Work slices of ~10 ms between yields: responsive to cancel without losing much throughput. */
const SLICE_MS = 10

const sleep: JobFn = async (params, ctx) => {
  const ms = num('sleep', params, 'ms')
  const ignoreCancel = bool('sleep', params, 'ignoreCancel')
  // ignoreCancel simulates a job that does not honour its signal (to exercise escalation).
  await sleepFor(ms, undefined, ignoreCancel ? {} : { signal: ctx.signal })
  return { ms }
}

const http: JobFn = async (params, ctx) => {
  const url = str('http', params, 'url')
  const method = str('http', params, 'method', 'GET')
  try {
    new URL(url)
  } catch {
    throw new TypeError(`http: params.url must be an absolute URL`)
  }
  const res = await fetch(url, { method, signal: ctx.signal })
  const total = Number(res.headers.get('content-length')) || 0
  let bytes = 0
  if (res.body) {
    // Counted as it streams: a large body is never held in memory.
    for await (const chunk of res.body) {
      bytes += (chunk as Uint8Array).byteLength
      if (total > 0) ctx.progress(Math.min(1, bytes / total))
    }
  }
  return { status: res.status, bytes }
}

const spin: JobFn = async (params, ctx) => {
  const ms = num('spin', params, 'ms')
  const ignoreCancel = bool('spin', params, 'ignoreCancel')
  // A loop that never yields would freeze the engine itself, with no way to force it.
  if (ignoreCancel && ctx.executor === 'loop') throw new Error('spin with ignoreCancel only runs on the thread or process executor')
  const start = performance.now()
  let iterations = 0
  let sliceEnd = start + SLICE_MS
  for (;;) {
    iterations++
    const now = performance.now()
    if (now - start >= ms) break
    if (now >= sliceEnd) {
      ctx.progress((now - start) / ms)
      // ignoreCancel: a pure busy loop that only terminate()/SIGKILL can stop.
      if (!ignoreCancel) await yieldAndCheck(ctx.signal)
      sliceEnd = performance.now() + SLICE_MS
    }
  }
  ctx.progress(1)
  return { ms, iterations }
}

const primes: JobFn = async (params, ctx) => {
  const below = num('primes', params, 'below', { int: true, max: 1e9 })
  if (below <= 2) return { count: 0, largest: null }
  // Odd-only sieve: index i stands for 2i+1 (the odd numbers below `below`), halving the memory.
  const size = Math.floor(below / 2)
  const composite = new Uint8Array(size)
  composite[0] = 1 // 1 is not prime
  const limit = Math.floor(Math.sqrt(below - 1))
  let sliceEnd = performance.now() + SLICE_MS
  for (let p = 3; p <= limit; p += 2) {
    if (composite[(p - 1) / 2]) continue
    for (let m = p * p; m < below; m += 2 * p) composite[(m - 1) / 2] = 1
    if (performance.now() >= sliceEnd) {
      ctx.progress((0.5 * p) / limit, 'sieving')
      await yieldAndCheck(ctx.signal)
      sliceEnd = performance.now() + SLICE_MS
    }
  }
  let count = 1 // 2
  let largest = 2
  for (let i = 1; i < size; i++) {
    if (!composite[i]) {
      count++
      largest = 2 * i + 1
    }
    if ((i & 0xfffff) === 0 && performance.now() >= sliceEnd) {
      ctx.progress(0.5 + (0.5 * i) / size, 'counting')
      await yieldAndCheck(ctx.signal)
      sliceEnd = performance.now() + SLICE_MS
    }
  }
  return { count, largest }
}

const CHUNK = 64 * 1024
/** Deterministic bytes: byte k is k mod 256, so every chunk (a multiple of 256) is the same buffer. */
const PATTERN = Buffer.from(Array.from({ length: CHUNK }, (_, i) => i & 0xff))

const hash: JobFn = async (params, ctx) => {
  const sha = createHash('sha256')
  if (params.path !== undefined) {
    const file = path.resolve(ctx.cwd, str('hash', params, 'path'))
    const size = (await stat(file)).size
    let bytes = 0
    for await (const chunk of createReadStream(file, { signal: ctx.signal })) {
      sha.update(chunk as Buffer)
      bytes += (chunk as Buffer).byteLength
      if (size > 0) ctx.progress(bytes / size)
    }
    return { sha256: sha.digest('hex'), bytes }
  }
  if (params.bytes === undefined) throw new TypeError('hash: give params.bytes or params.path')
  const total = num('hash', params, 'bytes', { int: true, max: 2 ** 40 })
  let done = 0
  let sliceEnd = performance.now() + SLICE_MS
  while (done < total) {
    const n = Math.min(CHUNK, total - done)
    sha.update(n === CHUNK ? PATTERN : PATTERN.subarray(0, n))
    done += n
    if (performance.now() >= sliceEnd) {
      ctx.progress(done / total)
      await yieldAndCheck(ctx.signal)
      sliceEnd = performance.now() + SLICE_MS
    }
  }
  return { sha256: sha.digest('hex'), bytes: total }
}

const ticker: JobFn = async (params, ctx) => {
  const steps = num('ticker', params, 'steps', { int: true, max: 1e6 })
  const intervalMs = num('ticker', params, 'intervalMs', { default: 100 })
  for (let i = 1; i <= steps; i++) {
    await sleepFor(intervalMs, undefined, { signal: ctx.signal })
    ctx.progress(i / steps, `step ${i}/${steps}`)
    ctx.log(`tick ${i}`)
  }
  return { steps }
}

const fail: JobFn = async (params, ctx) => {
  const message = str('fail', params, 'message', 'failed on purpose')
  const afterMs = num('fail', params, 'afterMs', { default: 0 })
  await sleepFor(afterMs, undefined, { signal: ctx.signal })
  throw new Error(message)
}

const crash: JobFn = async (params, ctx: JobContext) => {
  const afterMs = num('crash', params, 'afterMs', { default: 0 })
  // On the loop, process.exit would take the whole engine down.
  if (ctx.executor === 'loop') throw new Error('crash only runs on the thread or process executor')
  await sleepFor(afterMs, undefined, { signal: ctx.signal })
  // In a worker thread this ends only that thread; in a pool child, that process.
  process.exit(1)
}

// ── the concurrency primitives at work (the presets' producer/consumer, shared counter, fan-out) ──

/** Puts `items` numbers (1..items) on a queue, one every `intervalMs` (the time to produce one). */
const produce: JobFn = async (params, ctx) => {
  const q = ctx.queue(str('produce', params, 'queue'), { maxSize: num('produce', params, 'maxSize', { int: true, default: 0 }) })
  const items = num('produce', params, 'items', { int: true, max: 1e6 })
  const intervalMs = num('produce', params, 'intervalMs', { default: 0 })
  for (let i = 1; i <= items; i++) {
    if (intervalMs > 0) await sleepFor(intervalMs, undefined, { signal: ctx.signal })
    await q.put(i)
    ctx.progress(i / items, `put ${i}/${items}`)
  }
  return { produced: items }
}

/** Takes `count` items off a queue, working `workMs` on each, and marks each done. */
const consume: JobFn = async (params, ctx) => {
  const q = ctx.queue(str('consume', params, 'queue'), { maxSize: num('consume', params, 'maxSize', { int: true, default: 0 }) })
  const count = num('consume', params, 'count', { int: true, max: 1e6 })
  const workMs = num('consume', params, 'workMs', { default: 0 })
  const got: unknown[] = []
  for (let i = 1; i <= count; i++) {
    const item = await q.get()
    if (workMs > 0) await sleepFor(workMs, undefined, { signal: ctx.signal })
    got.push(item)
    await q.taskDone()
    ctx.progress(i / count, `consumed ${i}/${count}`)
  }
  return { consumed: got }
}

/**
 * The seeds' shared counter. The value lives in a one-item queue `cell` (so tasks on every
 * executor share it): `set` stores a value, `add` reads it, waits `delayMs`, then writes it plus
 * `add` (a read-modify-write with an await inside: lost updates without `lock`), neither reads it.
 */
const counter: JobFn = async (params, ctx) => {
  const cell = ctx.queue(str('counter', params, 'cell'))
  if (params.set !== undefined) {
    const value = num('counter', params, 'set')
    while ((await cell.size()) > 0) await cell.get()
    await cell.put(value)
    return { value }
  }
  const read = async (): Promise<number> => {
    const v = (await cell.get()) as number
    await cell.put(v)
    return v
  }
  if (params.add === undefined) return { value: await read() }
  const add = num('counter', params, 'add')
  const delayMs = num('counter', params, 'delayMs', { default: 50 })
  const held = params.lock === undefined ? null : await ctx.lock(str('counter', params, 'lock'))
  try {
    const before = await read()
    await sleepFor(delayMs, undefined, { signal: ctx.signal })
    await cell.get()
    await cell.put(before + add)
    return { before, after: before + add }
  } finally {
    await held?.release()
  }
}

/** Submits `n` sleep tasks as its children (ctx.submit) and waits for them (ctx.wait). */
const fanout: JobFn = async (params, ctx) => {
  const n = num('fanout', params, 'n', { int: true, max: 1000 })
  const ms = num('fanout', params, 'ms', { default: 500 })
  const executor = params.executor === undefined ? undefined : str('fanout', params, 'executor')
  if (executor !== undefined && executor !== 'loop' && executor !== 'thread' && executor !== 'process')
    throw new TypeError('fanout: params.executor must be loop, thread or process')
  const { ids } = await ctx.submit({
    batch: {
      name: 'fan-out',
      tasks: Array.from({ length: n }, (_, i) => ({ job: 'sleep', name: `child ${i + 1}`, params: { ms }, ...(executor ? { executor } : {}) })),
    },
  })
  const { done, pending } = await ctx.wait(ids, { returnWhen: 'all' })
  return { children: ids, done: done.filter((t) => t.state === 'done').length, pending: pending.length }
}

export const BUILTINS: Record<BuiltinJob, JobFn> = { sleep, http, spin, primes, hash, ticker, fail, crash, produce, consume, counter, fanout }
