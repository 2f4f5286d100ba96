// The job functions every contender runs: Taskloop calls them as jobs (`bench/jobs.mjs#tiny`),
// Piscina and tinypool load this same file and pick the export by name, so the work is identical.
// Taskloop passes (params, ctx); Piscina and tinypool pass only the task, hence `ctx?.`.

/** The smallest honest unit of work: read a param, return a value. */
export function tiny(params) {
  return params.n + 1
}

/**
 * Tells the bench the job is really running (scenario 5 cancels only then): Taskloop hears a
 * progress report, Piscina's side sees a flag in shared memory.
 */
function started(params, ctx) {
  ctx?.progress?.(0)
  if (params.started) Atomics.store(new Int32Array(params.started), 0, 1)
}

/** Busy CPU for `ms` milliseconds, never yielding. */
export function spin(params) {
  const end = performance.now() + params.ms
  let x = 0
  while (performance.now() < end) x++
  return x
}

/** Fixed CPU work, `params.k` loop iterations: the same CPU whatever the load (bench/threads.ts). */
export function work(params) {
  let x = 0
  for (let i = 0; i < params.k; i++) x = (x * 31 + i) | 0
  return x
}

/** An async no-op: the cost measured is the runner's bookkeeping only. */
export async function noop() {}

/** spin that says it started: a job that cannot see a cancel and has to be forced. */
export function busy(params, ctx) {
  started(params, ctx)
  return spin(params)
}

/** Waits `ms`, ending early (rejecting) when its signal aborts: a job that honours cancel. */
export function hold(params, ctx) {
  started(params, ctx)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, params.ms)
    ctx?.signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        reject(new Error('cancelled'))
      },
      { once: true },
    )
  })
}

/** Scenario "queue": puts params.n numbers on ctx.queue(params.queue), one at a time (each waits for the engine). */
export async function queueProduce(params, ctx) {
  const q = ctx.queue(params.queue)
  for (let i = 0; i < params.n; i++) await q.put(i)
}

/** Scenario "queue": takes params.n items off ctx.queue(params.queue). */
export async function queueConsume(params, ctx) {
  const q = ctx.queue(params.queue)
  let sum = 0
  for (let i = 0; i < params.n; i++) sum += await q.get()
  return sum
}
