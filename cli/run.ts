// `taskloop run FILE.json`: submit specs to an engine thread, show them live, exit with what happened.
// 0: all done; 1: any failed or cancelled; 2: bad input; 128+signal (130 for Ctrl+C) after a shutdown.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { isFinal, TaskloopError } from '../common/types'
import type { BatchSnapshot, Counters, TaskSnapshot } from '../common/types'
import { Mirror } from '../common/mirror'
import { startEngineThread } from '../engine/thread/client'
import { SHUTDOWN_GRACE_OPTIONS, shutdownGraceOption, UsageError } from './args'
import { newRunDir } from './data-dir'
import { lineView, taskLabel, ttyView } from './run-view'
import type { RunView } from './run-view'
import { holdSignals, shutdownOnSignals } from './shutdown-signals'
import type { ShutdownTrigger } from './shutdown-signals'
import { readSpecFile, SpecFileError } from './spec-file'

const SIGNAL_EXIT: Partial<Record<ShutdownTrigger, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }
/** The final report shows this many log lines of at most this many failed tasks. */
const FAILURE_TAIL_LINES = 5
const MAX_FAILURE_TAILS = 10

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...SHUTDOWN_GRACE_OPTIONS,
      jobs: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      'no-store': { type: 'boolean', default: false },
    },
  })
  if (positionals.length !== 1) throw new UsageError('run: give exactly one FILE.json')
  const file = positionals[0]!
  const graceMs = shutdownGraceOption(values)
  const json = values.json ?? false

  let specs
  try {
    specs = await readSpecFile(file)
  } catch (e) {
    if (!(e instanceof SpecFileError)) throw e
    process.stderr.write(`taskloop run: ${e.message}\n`)
    return 2
  }

  const jobsDirs = (values.jobs ?? []).map((d) => path.resolve(d))
  const held = holdSignals()
  const dataDir = values['no-store'] ? undefined : path.resolve(values['data-dir'] ?? newRunDir())
  const engine = await startEngineThread({ jobsDirs, shutdownGraceMs: graceMs, ...(dataDir ? { dataDir } : {}) }).catch((e: unknown) => {
    held.release()
    throw e
  })
  const startedAt = Date.now()
  // With --json, stdout carries only the final report; the live lines go to stderr.
  const view: RunView =
    !json && process.stdout.isTTY
      ? ttyView(process.stdout, process.stderr, startedAt)
      : lineView(json ? process.stderr : process.stdout, process.stderr, startedAt)
  const stop = shutdownOnSignals(engine, { graceMs, say: (line) => view.note(line) })
  const earlySignal = held.release()

  // Keeps what the engine forgets: the report names every task of the run.
  const mirror = new Mirror({ snapshot: () => engine.snapshot(), keepForgotten: true })
  const tasks = mirror.tasks
  let submitted: string[] | null = null

  const batchIds: string[] = []
  const batches: BatchSnapshot[] = []
  const logTails = new Map<string, string[]>()
  let finishing = false
  /** Everything is final: gather the batches' results (for --json) while the engine still runs, then stop it. */
  const finish = async (): Promise<void> => {
    if (finishing) return
    finishing = true
    if (json) {
      for (const id of batchIds) {
        const b = await engine.batch(id).catch(() => null)
        if (b) batches.push(b)
      }
    } else {
      // Why it failed is usually in the last lines it printed.
      const failed = [...tasks.values()].filter((t) => t.state === 'failed').slice(0, MAX_FAILURE_TAILS)
      for (const t of failed) {
        const detail = await engine.get(t.id).catch(() => null)
        if (detail) logTails.set(t.id, detail.log.slice(-FAILURE_TAIL_LINES).map((l) => l.line))
      }
    }
    stop.begin('done')
  }

  const allFinal = (): boolean =>
    submitted !== null && submitted.every((id) => tasks.has(id)) && [...tasks.values()].every((t) => isFinal(t.state))

  mirror.onChange(() => {
    view.update(tasks, mirror.counters)
    if (allFinal()) void finish()
  })
  const unsubscribe = engine.subscribe((event) => mirror.push(event))

  let badInput: string | null = null
  const submitAll = async (): Promise<void> => {
    try {
      const ids: string[] = []
      for (const { spec, at } of specs) {
        const reply = await engine.submit(spec).catch((e: unknown) => {
          const err = TaskloopError.from(e)
          throw err.code === 'invalid' && at !== '' ? new TaskloopError('invalid', `${at}${err.message}`, `${at}${err.path ?? ''}`) : err
        })
        ids.push(...reply.ids)
        if (reply.batchId !== undefined) batchIds.push(reply.batchId)
      }
      submitted = ids
      if (allFinal()) void finish()
    } catch (e) {
      const err = TaskloopError.from(e)
      // A refusal after some specs went in (an unknown `after` id, a shutdown): stop what started.
      if (err.code === 'invalid') badInput = `${file}: ${err.message}`
      else view.note(`taskloop run: ${err.message}`)
      stop.begin('done')
    }
  }
  if (earlySignal !== null) stop.begin(earlySignal)
  else await submitAll()

  const { trigger } = await stop.finished
  stop.dispose()
  unsubscribe()
  view.finish()

  const final = [...tasks.values()]
  if (badInput !== null) {
    process.stderr.write(`taskloop run: ${badInput}\n`)
    return 2
  }
  const failed = final.filter((t) => t.state === 'failed' || t.state === 'cancelled')
  if (json) {
    process.stdout.write(
      JSON.stringify({ ok: failed.length === 0 && trigger === 'done', counters: mirror.counters, tasks: final, batches }, null, 2) + '\n',
    )
  } else {
    report(final, mirror.counters, logTails, Date.now() - startedAt)
  }
  const signalExit = SIGNAL_EXIT[trigger]
  if (signalExit !== undefined) return signalExit
  if (submitted === null || trigger === 'lost') return 1
  return failed.length > 0 ? 1 : 0
}

function report(tasks: TaskSnapshot[], counters: Counters, logTails: Map<string, string[]>, elapsedMs: number): void {
  const out = process.stdout
  for (const t of tasks) {
    if (t.state !== 'failed') continue
    out.write(`failed: ${taskLabel(t)} (${t.reason ?? 'error'}): ${t.error?.message.split('\n')[0] ?? 'no message'}\n`)
    for (const line of logTails.get(t.id) ?? []) out.write(`  | ${line}\n`)
  }
  const unfinished = tasks.filter((t) => !isFinal(t.state)).length
  out.write(
    `${counters.done} done, ${counters.failed} failed, ${counters.cancelled} cancelled` +
      `${unfinished > 0 ? `, ${unfinished} unfinished` : ''} in ${(elapsedMs / 1000).toFixed(2)}s\n`,
  )
}
