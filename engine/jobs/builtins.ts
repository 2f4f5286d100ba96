// The built-in jobs: enough to exercise every path (I/O wait, CPU, progress, failure, crash).
// Each reads its params through PARAMS, which throws a ParamError naming the bad one; submit
// runs the same reader, so bad params are refused before a task exists.
import path from 'node:path'
import { MAX_RESULT_CHARS } from '../../common/defaults'
import type { BuiltinJob } from '../../common/types'
import type { JobContext, JobFn } from './job'

type Params = Record<string, unknown>

// node:crypto, node:fs/promises and node:timers/promises are loaded when a job first needs them:
// every pool child loads this file as it starts, and they cost it more CPU than the rest of its entry.
const sleepFor = (ms: number, signal?: AbortSignal): Promise<void> => process.getBuiltinModule('node:timers/promises').setTimeout(ms, undefined, { signal })

/** A bad param, in the user's words: `rule` completes "params.<key> …". Submit refuses with it (../submit-plan.ts). */
export class ParamError extends TypeError {
  constructor(
    job: string,
    readonly key: string,
    readonly rule: string,
  ) {
    super(`${job}: params.${key} ${rule}`)
  }
}

function num(job: string, params: Params, key: string, opts: { int?: boolean; max?: number; default?: number } = {}): number {
  const v = params[key] ?? opts.default
  const kind = opts.int ? 'a whole number' : 'a number'
  if (v === undefined) throw new ParamError(job, key, `is required (${kind}, 0 or more)`)
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ParamError(job, key, `must be ${kind}`)
  if (v < 0) throw new ParamError(job, key, 'must be 0 or more')
  if (opts.int && !Number.isInteger(v)) throw new ParamError(job, key, 'must be a whole number')
  if (opts.max !== undefined && v > opts.max) throw new ParamError(job, key, `must be at most ${opts.max}`)
  return v
}

function bool(job: string, params: Params, key: string): boolean {
  const v = params[key] ?? false
  if (typeof v !== 'boolean') throw new ParamError(job, key, 'must be true or false')
  return v
}

function str(job: string, params: Params, key: string, fallback?: string): string {
  const v = params[key] ?? fallback
  if (typeof v !== 'string' || v === '') throw new ParamError(job, key, 'must be a non-empty text')
  return v
}

/** Each built-in's params, read and checked: the one description of what each accepts. */
const PARAMS = {
  sleep: (p: Params) => ({ ms: num('sleep', p, 'ms'), ignoreCancel: bool('sleep', p, 'ignoreCancel') }),
  http: (p: Params) => {
    const url = str('http', p, 'url')
    try {
      new URL(url)
    } catch {
      throw new ParamError('http', 'url', 'must be an absolute URL')
    }
    return { url, method: str('http', p, 'method', 'GET'), ok: okStatusOf(p) }
  },
  spin: (p: Params) => ({ ms: num('spin', p, 'ms'), ignoreCancel: bool('spin', p, 'ignoreCancel') }),
  primes: (p: Params) => ({ below: num('primes', p, 'below', { int: true, max: 1e9 }) }),
  hash: (p: Params): { path: string; bytes?: undefined } | { bytes: number; path?: undefined } => {
    if (p.path !== undefined) return { path: str('hash', p, 'path') }
    if (p.bytes === undefined) throw new ParamError('hash', 'bytes', 'or params.path must be given')
    return { bytes: num('hash', p, 'bytes', { int: true, max: 2 ** 40 }) }
  },
  ticker: (p: Params) => ({ steps: num('ticker', p, 'steps', { int: true, max: 1e6 }), intervalMs: num('ticker', p, 'intervalMs', { default: 100 }) }),
  fail: (p: Params) => ({ message: str('fail', p, 'message', 'failed on purpose'), afterMs: num('fail', p, 'afterMs', { default: 0 }) }),
  crash: (p: Params) => ({ afterMs: num('crash', p, 'afterMs', { default: 0 }) }),
  produce: (p: Params) => ({
    queue: str('produce', p, 'queue'),
    maxSize: num('produce', p, 'maxSize', { int: true, default: 0 }),
    items: num('produce', p, 'items', { int: true, max: 1e6 }),
    intervalMs: num('produce', p, 'intervalMs', { default: 0 }),
  }),
  consume: (p: Params) => ({
    queue: str('consume', p, 'queue'),
    maxSize: num('consume', p, 'maxSize', { int: true, default: 0 }),
    count: num('consume', p, 'count', { int: true, max: 1e6 }),
    workMs: num('consume', p, 'workMs', { default: 0 }),
  }),
  counter: (p: Params) => ({
    cell: str('counter', p, 'cell'),
    set: p.set === undefined ? undefined : num('counter', p, 'set'),
    add: p.add === undefined ? undefined : num('counter', p, 'add'),
    delayMs: num('counter', p, 'delayMs', { default: 50 }),
    lock: p.lock === undefined ? undefined : str('counter', p, 'lock'),
  }),
  fanout: (p: Params) => {
    const executor = p.executor === undefined ? undefined : str('fanout', p, 'executor')
    if (executor !== undefined && executor !== 'loop' && executor !== 'thread' && executor !== 'process')
      throw new ParamError('fanout', 'executor', 'must be loop, thread or process')
    return { n: num('fanout', p, 'n', { int: true, max: 1000 }), ms: num('fanout', p, 'ms', { default: 500 }), executor }
  },
  'sleep-seconds': (p: Params) => {
    // A Redis list item is text ("2"): the notes' worker sleeps that many seconds.
    const v = typeof p.item === 'string' && p.item.trim() !== '' ? Number(p.item) : p.item
    return { seconds: num('sleep-seconds', { item: v }, 'item', { max: 86_400 }) }
  },
} satisfies Record<BuiltinJob, (p: Params) => unknown>

/** What is wrong with a built-in's params, or null: the check submit makes. */
export function checkParams(job: BuiltinJob, params: Params): ParamError | null {
  try {
    PARAMS[job](params)
    return null
  } catch (e) {
    if (e instanceof ParamError) return e
    throw e
  }
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
  const { ms, ignoreCancel } = PARAMS.sleep(params)
  // ignoreCancel simulates a job that does not honour its signal (to exercise escalation).
  await sleepFor(ms, ignoreCancel ? undefined : ctx.signal)
  return { ms }
}

/** The notes' Redis-list job: `params.item` seconds (a number, or a number as text, as list items are). */
const sleepSeconds: JobFn = async (params, ctx) => {
  const { seconds } = PARAMS['sleep-seconds'](params)
  await sleepFor(seconds * 1000, ctx.signal)
  return { seconds }
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
    throw new ParamError('http', 'okStatus', 'must be a list of statuses (404) or ranges ("400-499")')
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
  const { url, method, ok } = PARAMS.http(params)
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
  const { ms, ignoreCancel } = PARAMS.spin(params)
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
  const { below } = PARAMS.primes(params)
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
/** Deterministic bytes: byte k is k mod 256, so every chunk (a multiple of 256) is the same buffer. Built on first use. */
let pattern: Buffer | null = null

const hash: JobFn = async (params, ctx) => {
  const sha = process.getBuiltinModule('node:crypto').createHash('sha256')
  const read = PARAMS.hash(params)
  if (read.path !== undefined) {
    const file = path.resolve(ctx.cwd, read.path)
    const fs = process.getBuiltinModule('node:fs')
    const size = (await fs.promises.stat(file)).size
    let bytes = 0
    for await (const chunk of fs.createReadStream(file, { signal: ctx.signal })) {
      sha.update(chunk as Buffer)
      bytes += (chunk as Buffer).byteLength
      if (size > 0) ctx.progress(bytes / size)
    }
    return { sha256: sha.digest('hex'), bytes }
  }
  const total = read.bytes
  const PATTERN = (pattern ??= Buffer.from(Array.from({ length: CHUNK }, (_, i) => i & 0xff)))
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
  const { steps, intervalMs } = PARAMS.ticker(params)
  for (let i = 1; i <= steps; i++) {
    await sleepFor(intervalMs, ctx.signal)
    ctx.progress(i / steps, `step ${i}/${steps}`)
    ctx.log(`tick ${i}`)
  }
  return { steps }
}

const fail: JobFn = async (params, ctx) => {
  const { message, afterMs } = PARAMS.fail(params)
  await sleepFor(afterMs, ctx.signal)
  throw new Error(message)
}

const crash: JobFn = async (params, ctx: JobContext) => {
  const { afterMs } = PARAMS.crash(params)
  // On the loop, process.exit would take the whole engine down.
  if (ctx.executor === 'loop') throw new Error('crash only runs on the thread or process executor')
  await sleepFor(afterMs, ctx.signal)
  // In a worker thread this ends only that thread; in a pool child, that process.
  process.exit(1)
}

// ── the concurrency primitives at work (the presets' producer/consumer, shared counter, fan-out) ──

/** Puts `items` numbers (1..items) on a queue, one every `intervalMs` (the time to produce one). */
const produce: JobFn = async (params, ctx) => {
  const { queue, maxSize, items, intervalMs } = PARAMS.produce(params)
  const q = ctx.queue(queue, { maxSize })
  for (let i = 1; i <= items; i++) {
    if (intervalMs > 0) await sleepFor(intervalMs, ctx.signal)
    await q.put(i)
    ctx.progress(i / items, `put ${i}/${items}`)
  }
  return { produced: items }
}

/** Takes `count` items off a queue, working `workMs` on each, and marks each done. */
const consume: JobFn = async (params, ctx) => {
  const { queue, maxSize, count, workMs } = PARAMS.consume(params)
  const q = ctx.queue(queue, { maxSize })
  const got: unknown[] = []
  for (let i = 1; i <= count; i++) {
    const item = await q.get()
    if (workMs > 0) await sleepFor(workMs, ctx.signal)
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
  const { cell: cellName, set, add, delayMs, lock } = PARAMS.counter(params)
  const cell = ctx.queue(cellName)
  if (set !== undefined) {
    const value = set
    while ((await cell.size()) > 0) await cell.get()
    await cell.put(value)
    return { value }
  }
  const read = async (): Promise<number> => {
    const v = (await cell.get()) as number
    await cell.put(v)
    return v
  }
  if (add === undefined) return { value: await read() }
  const held = lock === undefined ? null : await ctx.lock(lock)
  try {
    const before = await read()
    await sleepFor(delayMs, ctx.signal)
    await cell.get()
    await cell.put(before + add)
    return { before, after: before + add }
  } finally {
    await held?.release()
  }
}

/** Submits `n` sleep tasks as its children (ctx.submit) and waits for them (ctx.wait). */
const fanout: JobFn = async (params, ctx) => {
  const { n, ms, executor } = PARAMS.fanout(params)
  const { ids } = await ctx.submit({
    batch: {
      name: 'fan-out',
      tasks: Array.from({ length: n }, (_, i) => ({ job: 'sleep', name: `child ${i + 1}`, params: { ms }, ...(executor ? { executor } : {}) })),
    },
  })
  const { done, pending } = await ctx.wait(ids, { returnWhen: 'all' })
  return { children: ids, done: done.filter((t) => t.state === 'done').length, pending: pending.length }
}

export const BUILTINS: Record<BuiltinJob, JobFn> = { sleep, http, spin, primes, hash, ticker, fail, crash, produce, consume, counter, fanout, 'sleep-seconds': sleepSeconds }
