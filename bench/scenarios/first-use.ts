// 11. First use of a pool: a fresh Engine (nothing warmed) gets 4 spins of 1 s at once with a
// limit of 3, on threads and on processes. On 2 cores 4 s of CPU take 2 s at best, so what a
// pool adds beyond 2 s is the cost of starting its workers when the work arrives: they must
// start together, and while they start the cores should already be working.
import { readFileSync } from 'node:fs'
import type { ExecutorKind } from '../../common/types'
import { Engine } from '../../engine/engine'
import { EngineProbe, job, median, type Row, type Scenario } from '../harness'

const SIZE = 3
const SPINS = 4
const SPIN_MS = 1000
/** 4 s of CPU on 2 cores. */
const IDEAL_MS = (SPINS * SPIN_MS) / 2

interface Once {
  ms: number
  firstStartMs: number
  lastStartMs: number
  /** From the last spin's end (the engine's endedAt) to the subscriber hearing it. */
  heardMs: number
}

async function once(kind: Exclude<ExecutorKind, 'loop' | 'command'>): Promise<Once> {
  const engine = new Engine({ limits: { [kind]: SIZE }, keepInMemory: Infinity })
  const probe = new EngineProbe(engine)
  try {
    const t0 = performance.now()
    const { ids } = await engine.submit({ batch: { tasks: Array.from({ length: SPINS }, () => ({ job: job('spin'), executor: kind, params: { ms: SPIN_MS } })) } })
    await probe.until(SPINS)
    const heard = performance.now()
    const ms = heard - t0
    // Epoch milliseconds from the engine: when each spin really started, against the submit.
    const tasks = await Promise.all(ids.map((id) => engine.get(id)))
    const submitted = Math.min(...tasks.map((t) => t.createdAt))
    const starts = tasks.map((t) => t.startedAt! - submitted).sort((a, b) => a - b)
    const heardMs = performance.timeOrigin + heard - Math.max(...tasks.map((t) => t.endedAt!))
    return { ms, firstStartMs: starts[0]!, lastStartMs: starts[SIZE - 1]!, heardMs }
  } finally {
    probe.unsubscribe()
    await engine.shutdown()
  }
}

/**
 * Node reads NODE_EXTRA_CA_CERTS at every process start, before any of our code: each pool child
 * parses those certificates (on the bench machine, ~40 ms of CPU for 144 of them). Said, not
 * removed: a job's TLS calls need them.
 */
function extraCaNote(): string {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (!file) return ''
  let certs = '?'
  try {
    certs = String(readFileSync(file, 'latin1').split('BEGIN CERTIFICATE').length - 1)
  } catch {
    // unreadable: Node warns and goes on, so does the note
  }
  return `; NODE_EXTRA_CA_CERTS is set: every child parses its ${certs} certificates as it starts`
}

export const firstUse: Scenario = {
  name: 'first-use',
  title: '11. first use: 4 × 1 s spin on a pool of 3, nothing warmed',
  async run(cfg) {
    const runs = cfg.quick ? 1 : 3
    const kinds = ['thread', 'process'] as const
    const results = new Map<string, Awaited<ReturnType<typeof once>>[]>(kinds.map((k) => [k, []]))
    for (let r = 0; r < runs; r++) for (const k of r % 2 ? [...kinds].reverse() : kinds) results.get(k)!.push(await once(k))
    const thread = median(results.get('thread')!.map((x) => x.ms))
    return kinds.map((k): Row => {
      const xs = results.get(k)!
      const med = median(xs.map((x) => x.ms))
      const mine = k === 'process'
      return {
        scenario: this.title,
        contender: `Taskloop Engine, ${k} pool`,
        medianMs: med,
        opsPerSec: null,
        vsPeer: `${(med / IDEAL_MS).toFixed(2)}x the ideal ${IDEAL_MS} ms${mine ? `; threads ${(thread / IDEAL_MS).toFixed(2)}x` : ''}`,
        goal: mine ? `≤ 1.1x the ideal (as threads)` : '',
        met: mine ? med <= IDEAL_MS * 1.1 : null,
        note:
          `runs ${xs.map((x) => x.ms.toFixed(0)).join(', ')} ms; ${SIZE} spins started ${xs.map((x) => `${x.firstStartMs}-${x.lastStartMs}`).join(', ')} ms after the submit; ` +
          `the last end heard ${xs.map((x) => x.heardMs.toFixed(0)).join(', ')} ms after it (event batches)` +
          (k === 'process' ? extraCaNote() : ''),
      }
    })
  },
}
