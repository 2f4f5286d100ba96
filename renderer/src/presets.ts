// The launcher's presets: the seeds' examples (asyncio gather, threads, a TaskPool/Semaphore,
// a task that ignores cancel), as specs a user can launch with one click.
import type { SubmitSpec } from '../../common/types'

export interface Preset {
  label: string
  description: string
  spec: SubmitSpec
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
    label: '4 × spin 1 s on threads',
    description: 'CPU-bound work on the thread pool: four 1 s spins run in parallel.',
    spec: {
      batch: {
        name: 'spin on threads',
        tasks: [1, 2, 3, 4].map((i) => ({ name: `spin ${i}`, job: 'spin', params: { ms: 1000 }, executor: 'thread' as const })),
      },
    },
  },
  {
    label: 'TaskPool: 100 sleeps, 10 at a time',
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
  {
    label: 'ignores cancel (sleep 30 s)',
    description:
      'A loop job that never looks at its AbortSignal: after the grace it is marked cancelled and flagged "ignored cancel".',
    spec: { name: 'ignores cancel', job: 'sleep', params: { ms: 30_000, ignoreCancel: true }, executor: 'loop', killGraceMs: 2000 },
  },
]
