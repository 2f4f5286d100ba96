// The load both monitors watch in the Bull Board comparison: the same job durations, in the same
// order, for Taskloop's tasks and for BullMQ's jobs.

export interface Load {
  jobs: number
  /** How many run at once. */
  concurrency: number
  minMs: number
  maxMs: number
  seed: number
}

/** The BullMQ queue Bull Board shows. */
export const BULL_QUEUE = 'bench'

export const FULL_LOAD: Load = { jobs: 10_000, concurrency: 400, minMs: 500, maxMs: 6_000, seed: 14 }
export const QUICK_LOAD: Load = { ...FULL_LOAD, jobs: 1_000, concurrency: 100 }

/** mulberry32: a small seeded generator, so both contenders sleep the very same durations. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Every job's sleep in ms, in submission order. */
export function durations(load: Load): number[] {
  const next = random(load.seed)
  return Array.from({ length: load.jobs }, () => Math.round(load.minMs + next() * (load.maxMs - load.minMs)))
}
