// The launcher's presets: the classic Python concurrency examples (asyncio gather, a TaskPool/Semaphore, Pool(3) on
// threads and processes, chained coroutines, producer/consumer, wait_for, a task that ignores
// cancel), as specs a user can launch with one click.
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
    label: 'producer / consumer',
    description: 'Two producers fill a queue; three consumers each take what a producer made once it is done.',
    spec: {
      batch: {
        name: 'producer/consumer',
        concurrency: 3,
        tasks: [
          { name: 'producer 0', job: 'ticker', params: { steps: 5, intervalMs: 200 }, executor: 'loop' },
          { name: 'producer 1', job: 'ticker', params: { steps: 3, intervalMs: 300 }, executor: 'loop' },
          { name: 'consumer 0', job: 'sleep', params: { ms: 400 }, executor: 'loop', after: ['#0'] },
          { name: 'consumer 1', job: 'sleep', params: { ms: 600 }, executor: 'loop', after: ['#1'] },
          { name: 'consumer 2', job: 'sleep', params: { ms: 300 }, executor: 'loop', after: ['#0', '#1'] },
        ],
      },
    },
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
