// The launcher's presets: the classic Python concurrency examples (asyncio gather, a TaskPool/Semaphore, Pool(3) on
// threads and processes, chained coroutines, producer/consumer through a queue, a shared counter
// with and without a lock, fan-out from a job, wait_for, a task that ignores cancel), as specs a user can launch with one click.
import type { Limits, SubmitSpec } from '../../common/types'

export interface Preset {
  label: string
  description: string
  /** Concurrency set (setLimits) before the spec is submitted, as the seed's pool size. */
  limits?: Partial<Limits>
  spec: SubmitSpec
}

const cpuOnPool = (executor: 'thread' | 'process'): Preset => ({
  label: `Pool(3): 4 × 1 s CPU on ${executor === 'thread' ? 'threads' : 'processes'}`,
  description: `Four 1 s spins on a ${executor} pool of 3: three run together, the fourth waits for a free worker (~2 s in all).`,
  limits: { [executor]: 3 },
  spec: {
    batch: {
      name: `pool of 3 ${executor}s`,
      tasks: [1, 2, 3, 4].map((i) => ({ name: `cpu ${executor} ${i}`, job: 'spin', params: { ms: 1000 }, executor })),
    },
  },
})

/**
 * The seeds' shared counter: 10 concurrent adds (1..10) with an await between read and write, on
 * loop, thread and process in turn. With ctx.lock it ends at 55; without, updates are lost.
 */
function counterPreset(locked: boolean): Preset {
  const cell = locked ? 'counter-locked' : 'counter-unlocked'
  const executors = ['loop', 'thread', 'process'] as const
  return {
    label: `shared counter ${locked ? 'with' : 'without'} a lock: 10 adds`,
    description: locked
      ? 'Ten tasks on loop, thread and process each add 1..10 under ctx.lock: the last task reads 55.'
      : 'The same ten adds without the lock: reads and writes interleave and the last task reads less than 55.',
    spec: {
      batch: {
        name: `counter ${locked ? 'with' : 'without'} lock`,
        tasks: [
          { name: 'set 0', job: 'counter', params: { cell, set: 0 }, executor: 'loop' },
          ...Array.from({ length: 10 }, (_, i) => ({
            name: `add ${i + 1}`,
            job: 'counter',
            params: { cell, add: i + 1, delayMs: 100, ...(locked ? { lock: cell } : {}) },
            executor: executors[i % 3],
            after: ['#0'],
          })),
          { name: 'read', job: 'counter', params: { cell }, executor: 'loop', after: Array.from({ length: 10 }, (_, i) => `#${i + 1}`) },
        ],
      },
    },
  }
}

export const PRESETS: Preset[] = [
  {
    label: 'gather: sleep 1 s, 2 s, 4 s',
    description: 'asyncio.gather of three sleeps on the event loop: all done after ~4 s, not 7.',
    spec: {
      batch: {
        name: 'gather',
        tasks: [1, 2, 4].map((s) => ({ name: `sleep ${s} s`, job: 'sleep', params: { ms: s * 1000 }, executor: 'loop' as const })),
      },
    },
  },
  {
    label: 'TaskPool: 100 jobs, 10 at a time',
    description: 'A semaphore of 10 over 100 short sleeps (100–500 ms).',
    spec: {
      batch: {
        name: 'pool of 10',
        concurrency: 10,
        tasks: Array.from({ length: 100 }, (_, i) => ({
          name: `page ${i + 1}`,
          job: 'sleep',
          params: { ms: 100 + (i % 5) * 100 },
          executor: 'loop' as const,
        })),
      },
    },
  },
  cpuOnPool('thread'),
  cpuOnPool('process'),
  {
    label: 'chain: phase1 → phase2',
    description: 'Chained coroutines: phase2 starts when phase1 is done and receives its result.',
    spec: {
      batch: {
        name: 'chain',
        tasks: [
          { name: 'phase1', job: 'ticker', params: { steps: 4, intervalMs: 250 }, executor: 'loop' },
          { name: 'phase2', job: 'ticker', params: { steps: 4, intervalMs: 250 }, executor: 'loop', after: ['#0'] },
        ],
      },
    },
  },
  {
    label: 'producer / consumer: 5 × (1 s + 1 s) through a queue',
    description:
      'A producer on a process puts 5 items on ctx.queue (1 s each); a consumer on a thread takes them as they come (1 s each): ~6 s, not 10.',
    spec: {
      batch: {
        name: 'producer/consumer',
        tasks: [
          { name: 'producer', job: 'produce', params: { queue: 'items', items: 5, intervalMs: 1000 }, executor: 'process' },
          { name: 'consumer', job: 'consume', params: { queue: 'items', count: 5, workMs: 1000 }, executor: 'thread' },
        ],
      },
    },
  },
  counterPreset(true),
  counterPreset(false),
  {
    label: 'fan-out: a job submits 5 children and waits',
    description: 'A loop job calls ctx.submit for five 1 s sleeps on threads, then ctx.wait for all: its children link back to it.',
    spec: { name: 'fan-out', job: 'fanout', params: { n: 5, ms: 1000, executor: 'thread' }, executor: 'loop' },
  },
  {
    label: 'wait_for: a job that times out',
    description: 'A 10 s sleep with a 1 s timeout: cancelled at the deadline and failed (timeout).',
    spec: { name: 'times out', job: 'sleep', params: { ms: 10_000 }, executor: 'loop', timeoutMs: 1000 },
  },
  {
    label: 'as_completed: 1.5 s, 0.5 s, 1 s',
    description:
      'Three sleeps that finish out of order: the batch lists them as they finished (GET /api/batches/:id "completed"; taskloop run --jsonl prints each as it ends).',
    spec: {
      batch: {
        name: 'as_completed',
        tasks: [1500, 500, 1000].map((ms) => ({ name: `completes after ${ms} ms`, job: 'sleep', params: { ms }, executor: 'loop' as const })),
      },
    },
  },
  {
    label: 'FIRST_COMPLETED: the first of three wins',
    description: 'asyncio.wait(return_when=FIRST_COMPLETED): the first sleep to finish settles the batch; the other two are cancelled (batch-settled).',
    spec: {
      batch: {
        name: 'first completed',
        returnWhen: 'first',
        tasks: [3000, 500, 5000].map((ms) => ({ name: `racer ${ms} ms`, job: 'sleep', params: { ms }, executor: 'loop' as const })),
      },
    },
  },
  {
    label: 'wait with a timeout: 1.5 s for three',
    description: 'asyncio.wait(timeout=1.5): what finished by then keeps its result; the rest are cancelled (batch-settled), or left running with onSettled "leave".',
    spec: {
      batch: {
        name: 'wait 1.5 s',
        timeoutMs: 1500,
        tasks: [300, 800, 6000].map((ms) => ({ name: `waited ${ms} ms`, job: 'sleep', params: { ms }, executor: 'loop' as const })),
      },
    },
  },
  {
    label: 'done callback: runs after a failure',
    description:
      'add_done_callback: a follower with afterWhen "always" runs whatever its predecessor did, and gets its result or error in ctx.inputs.',
    spec: {
      batch: {
        name: 'done callback',
        tasks: [
          { name: 'step that fails', job: 'fail', params: { message: 'step failed', afterMs: 500 }, executor: 'loop' },
          { name: 'callback always', job: 'sleep', params: { ms: 300 }, executor: 'loop', after: ['#0'], afterWhen: 'always' },
        ],
      },
    },
  },
  {
    label: 'ignores cancel (sleep 30 s)',
    description:
      'A loop job that never looks at its AbortSignal: after the grace it is marked cancelled and flagged "ignored cancel".',
    spec: { name: 'ignores cancel', job: 'sleep', params: { ms: 30_000, ignoreCancel: true }, executor: 'loop', killGraceMs: 2000 },
  },
]
