// runJob's ctx is made lazily (its signal, its functions): a job must not be able to tell.
import { describe, expect, it } from 'vitest'
import type { JobCall } from '../../../../common/types'
import { RunAbort, runJob, type JobSink } from '../../../../engine/executors/run-job'

const JOB = new URL('../../../fixtures/ctx-jobs.mjs', import.meta.url).pathname

function sink(): JobSink & { progressed: (number | null)[]; logged: string[]; called: { call: JobCall; signal: AbortSignal }[] } {
  const progressed: (number | null)[] = []
  const logged: string[] = []
  const called: { call: JobCall; signal: AbortSignal }[] = []
  return {
    progressed,
    logged,
    called,
    progress: (f) => progressed.push(f),
    log: (l) => logged.push(l),
    call: async (call, signal) => {
      called.push({ call, signal })
      return { ids: ['c1'] }
    },
  }
}

const request = (job: string) => ({ job: `${JOB}#${job}`, params: {}, inputs: [1], taskId: 't1', attempt: 2, cwd: '/', jobsDirs: [] })

describe('runJob context', () => {
  it('gives a job its fields, and functions that work taken apart', async () => {
    const s = sink()
    const ctx = (await runJob(request('parts'), 'thread', new RunAbort(), s)) as Record<string, unknown>
    expect(ctx).toEqual({ taskId: 't1', attempt: 2, inputs: [1], executor: 'thread', cwd: '/', aborted: false, submitted: { ids: ['c1'] } })
    expect(s.progressed).toEqual([0.5])
    expect(s.logged).toEqual(['hello'])
    expect(s.called[0]!.call).toEqual({ op: 'submit', spec: { job: 'sleep' } })
  })

  it('a cancel before the signal was read leaves it aborted when read; one before the job skips the job', async () => {
    // The job reports progress, which cancels it here, then reads its signal for the first time.
    const abort = new RunAbort()
    const s = sink()
    s.progress = () => abort.abort()
    await expect(runJob(request('abortedAfterProgress'), 'thread', abort, s)).resolves.toBe(true)

    const early = new RunAbort()
    early.abort()
    expect(early.aborted).toBe(true)
    await expect(runJob(request('parts'), 'thread', early, sink())).rejects.toThrow(/cancelled before the job started/)
    expect(early.signal.aborted).toBe(true)
  })

  it('a signal read before the cancel hears it', async () => {
    const abort = new RunAbort()
    const seen: boolean[] = []
    abort.signal.addEventListener('abort', () => seen.push(true))
    abort.abort()
    expect([seen, abort.aborted, abort.signal.aborted]).toEqual([[true], true, true])
  })
})
