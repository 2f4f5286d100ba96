// The built-in jobs: enough to exercise every path (I/O wait, CPU, progress, failure, crash).
// Each validates its params and throws a TypeError naming the bad one.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleepFor } from 'node:timers/promises'
import { MAX_RESULT_CHARS } from '../../common/defaults'
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

/** The response body kept in an http result: half the result cap, so status and headers fit beside it. */
const MAX_BODY_CHARS = MAX_RESULT_CHARS / 2

/** A response whose status the spec does not accept; `code` is the status. */
class HttpError extends Error {
  readonly code: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.code = status
  }
}

/** `okStatus`: statuses (404) or ranges ("400-499") accepted besides those below 400. */
function okStatusOf(params: Params): (status: number) => boolean {
  const v = params.okStatus ?? []
  const bad = (): never => {
    throw new TypeError('http: params.okStatus must be a list of statuses (404) or ranges ("400-499")')
  }
  if (!Array.isArray(v)) bad()
  const ranges = (v as unknown[]).map((x): [number, number] => {
    if (typeof x === 'number' && Number.isInteger(x)) return [x, x]
    const m = typeof x === 'string' ? /^(\d{3})-(\d{3})$/.exec(x) : null
    return m ? [Number(m[1]), Number(m[2])] : bad()
  })
  return (status) => status < 400 || ranges.some(([lo, hi]) => status >= lo && status <= hi)
}

/** An HTTP client (aiohttp's fetch): status, headers and body (parsed JSON, or text), capped; a status ≥ 400 fails unless okStatus accepts it. */
const http: JobFn = async (params, ctx) => {
  const url = str('http', params, 'url')
  const method = str('http', params, 'method', 'GET')
  const ok = okStatusOf(params)
  try {
    new URL(url)
  } catch {
    throw new TypeError(`http: params.url must be an absolute URL`)
  }
  const res = await fetch(url, { method, signal: ctx.signal })
  const total = Number(res.headers.get('content-length')) || 0
  let bytes = 0
  const kept: Uint8Array[] = []
  let keptBytes = 0
  if (res.body) {
    // Counted as it streams; only the head a result can hold is kept in memory.
    for await (const chunk of res.body) {
      const c = chunk as Uint8Array
      bytes += c.byteLength
      if (keptBytes <= MAX_BODY_CHARS) {
        kept.push(c)
        keptBytes += c.byteLength
      }
      if (total > 0) ctx.progress(Math.min(1, bytes / total))
    }
  }
  const text = Buffer.concat(kept).toString('utf8')
  const truncated = text.length > MAX_BODY_CHARS || bytes > keptBytes
  const head = truncated ? text.slice(0, MAX_BODY_CHARS) : text
  if (!ok(res.status)) {
    const excerpt = head.slice(0, 200).replace(/\s+/g, ' ').trim()
    throw new HttpError(res.status, `HTTP ${res.status} ${res.statusText} from ${method} ${url}${excerpt ? `: ${excerpt}` : ''}`)
  }
  let body: unknown = head
  if (!truncated && /\bjson\b/i.test(res.headers.get('content-type') ?? '')) {
    try {
      body = JSON.parse(text)
    } catch {
      // Says JSON, is not: the text is what there is.
    }
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), body, bytes, ...(truncated ? { truncated: true } : {}) }
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

export const BUILTINS: Record<BuiltinJob, JobFn> = { sleep, http, spin, primes, hash, ticker, fail, crash }
