// `taskloop run FILE.json`: submit specs to an engine thread, show them live, exit with what happened.
// 0: all done; 1: any failed or cancelled; 2: bad input; 128+signal (130 for Ctrl+C) after a shutdown.
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { isFinal, TaskloopError } from '../common/types'
import type { BatchSnapshot, Counters, TaskSnapshot } from '../common/types'
import { Mirror } from '../common/mirror'
import { onStopOption, SHUTDOWN_GRACE_OPTIONS, shutdownGraceOption, UsageError } from './args'
import { newRunDir, startEngineOrRefuse } from './data-dir'
import { lineView, taskLabel, ttyView, visible } from './run-view'
import type { RunView } from './run-view'
import type { EngineHandle } from '../engine/handle'
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
      jsonl: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      'no-store': { type: 'boolean', default: false },
      'on-stop': { type: 'string' },
      'reset-store': { type: 'boolean', default: false },
      redis: { type: 'string' },
    },
  })
  // Queued specs go to the cluster through a node that serves no queue and watches only its own tasks.
  const redis = values.redis ?? (process.env.TASKLOOP_REDIS_URL || undefined)
  delete process.env.TASKLOOP_REDIS_URL
  // A run's folder is never started again, so a kept task would wait forever: every stop cancels
  // unless --on-stop keep asks to keep them there (`taskloop serve --data-dir <that folder>` runs them).
  const onStop = onStopOption(values['on-stop']) ?? 'cancel'
  if (positionals.length !== 1) throw new UsageError('run: give exactly one FILE.json')
  const file = positionals[0]!
  const graceMs = shutdownGraceOption(values)
  const json = values.json ?? false
  // as_completed: each task on stdout as one JSON line when it becomes final.
  const jsonl = values.jsonl ?? false
  if (json && jsonl) throw new UsageError('run: give --json or --jsonl, not both')

  let specs
  try {
    specs = await readSpecFile(file)
  } catch (e) {
    if (!(e instanceof SpecFileError)) throw e
    process.stderr.write(`taskloop run: ${visible(e.message)}\n`)
    return 2
  }

  const jobsDirs = (values.jobs ?? []).map((d) => path.resolve(d))
  if (values['no-store'] && values['reset-store']) throw new UsageError('--reset-store and --no-store contradict each other')
  const held = holdSignals()
  const dataDir = values['no-store'] ? undefined : path.resolve(values['data-dir'] ?? newRunDir())
  const engine = await startEngineOrRefuse(
    'run',
    { jobsDirs, shutdownGraceMs: graceMs, ...(dataDir ? { dataDir, resetStore: values['reset-store'] } : {}) },
    () => held.release(),
  )
  if (typeof engine === 'number') return engine
  let api: EngineHandle = engine
  if (redis !== undefined) {
    try {
      const { joinCluster } = await import('../cluster/index')
      api = await joinCluster(engine, { redis, nodeId: `run-${os.hostname()}-${process.pid}`, queues: [], view: 'own' })
    } catch (e) {
      process.stderr.write(`taskloop run: cannot join the cluster: ${(e as Error).message}\n`)
      held.release()
      await engine.shutdown({ graceMs: 0 })
      return 1
    }
  }
  // A store moved aside (--reset-store), rows set aside, orphans ended: said once, before the live view.
  const { notice } = await api.snapshot()
  if (notice) process.stderr.write(`Notice: ${notice}\n`)
  const startedAt = Date.now()
  // With --json, stdout carries only the final report, with --jsonl only the task lines; the live
  // view and the human report go to stderr.
  const machine = json || jsonl
  const human = jsonl ? process.stderr : process.stdout
  const view: RunView =
    !machine && process.stdout.isTTY
      ? ttyView(process.stdout, process.stderr, startedAt)
      : jsonl && process.stderr.isTTY
        ? ttyView(process.stderr, process.stderr, startedAt)
        : lineView(machine ? process.stderr : process.stdout, process.stderr, startedAt)
  const stop = shutdownOnSignals(api, { graceMs, say: (line) => view.note(line), pendingOn: () => onStop })
  const earlySignal = held.release()

  // Keeps what the engine forgets: the report names every task of the run.
  const mirror = new Mirror({ snapshot: () => api.snapshot(), keepForgotten: true })
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
        const b = await api.batch(id).catch(() => null)
        if (b) batches.push(b)
      }
    } else {
      // Why it failed is usually in the last lines it printed.
      const failed = [...tasks.values()].filter((t) => t.state === 'failed').slice(0, MAX_FAILURE_TAILS)
      for (const t of failed) {
        const detail = await api.get(t.id).catch(() => null)
        if (detail) logTails.set(t.id, detail.log.slice(-FAILURE_TAIL_LINES).map((l) => l.line))
      }
    }
    stop.begin('done')
  }

  const allFinal = (): boolean =>
    submitted !== null && submitted.every((id) => tasks.has(id)) && [...tasks.values()].every((t) => isFinal(t.state))

  const printed = new Set<string>()
  const printFinal = (ids: Iterable<string>): void => {
    for (const id of ids) {
      const t = tasks.get(id)
      if (!t || !isFinal(t.state) || printed.has(id)) continue
      printed.add(id)
      process.stdout.write(JSON.stringify(t) + '\n')
    }
  }
  mirror.onChange((change) => {
    if (jsonl) printFinal(change.changed ?? tasks.keys())
    view.update(tasks, mirror.counters)
    if (allFinal()) void finish()
  })
  const unsubscribe = api.subscribe((event) => mirror.push(event))

  let badInput: string | null = null
  const submitAll = async (): Promise<void> => {
    try {
      const ids: string[] = []
      for (const { spec, at } of specs) {
        const reply = await api.submit(spec).catch((e: unknown) => {
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
      else view.note(`taskloop run: ${visible(err.message)}`)
      stop.begin('done')
    }
  }
  if (earlySignal !== null) stop.begin(earlySignal)
  else await submitAll()

  const { trigger, report: stopped } = await stop.finished
  stop.dispose()
  unsubscribe()
  view.finish()
  // Tasks the stop settled after the last event reached the view.
  if (jsonl) printFinal(tasks.keys())
  if (stopped && stopped.keptPending > 0) {
    const where = dataDir ? ` in ${dataDir}: \`taskloop serve --data-dir ${dataDir}\` runs them` : ' (in memory only, --no-store: they are lost)'
    process.stderr.write(`${stopped.keptPending} pending task${stopped.keptPending === 1 ? '' : 's'} kept${where}\n`)
  }

  const final = [...tasks.values()]
  if (badInput !== null) {
    process.stderr.write(`taskloop run: ${visible(badInput)}\n`)
    return 2
  }
  const failed = final.filter((t) => t.state === 'failed' || t.state === 'cancelled')
  if (json) {
    process.stdout.write(
      JSON.stringify({ ok: failed.length === 0 && trigger === 'done', counters: mirror.counters, tasks: final, batches }, null, 2) + '\n',
    )
  } else {
    report(human, final, mirror.counters, { logTails, forced: new Set(mirror.shutdown?.forced ?? []), logsDir: dataDir ? path.join(dataDir, 'logs') : null }, Date.now() - startedAt)
  }
  const signalExit = SIGNAL_EXIT[trigger]
  if (signalExit !== undefined) return signalExit
  if (submitted === null || trigger === 'lost') return 1
  return failed.length > 0 ? 1 : 0
}

interface ReportExtras {
  /** The last lines each failed task printed. */
  logTails: Map<string, string[]>
  /** Tasks the shutdown had to force. */
  forced: Set<string>
  /** Where every task's full log is, when the run keeps a data folder. */
  logsDir: string | null
}

function report(out: NodeJS.WritableStream, tasks: TaskSnapshot[], counters: Counters, extras: ReportExtras, elapsedMs: number): void {
  let failures = 0
  for (const t of tasks) {
    if (t.state !== 'failed') continue
    failures++
    out.write(`failed: ${taskLabel(t)} (${t.reason ?? 'error'}): ${visible(t.error?.message.split('\n')[0] ?? 'no message')}\n`)
    for (const line of extras.logTails.get(t.id) ?? []) out.write(`  | ${visible(line)}\n`)
  }
  if (failures > 0 && extras.logsDir !== null) out.write(`full logs: ${extras.logsDir}\n`)
  // After Ctrl+C: the tasks that did not stop when asked.
  for (const t of tasks) {
    if (t.ignoredCancel) out.write(`ignored cancel: ${taskLabel(t)} (${t.executor}) kept running after the grace; abandoned\n`)
    else if (extras.forced.has(t.id)) out.write(`forced: ${taskLabel(t)} (${t.executor}${t.worker ? `, ${t.worker}` : ''}) did not stop within the grace\n`)
  }
  const unfinished = tasks.filter((t) => !isFinal(t.state)).length
  out.write(
    `${counters.done} done, ${counters.failed} failed, ${counters.cancelled} cancelled` +
      `${unfinished > 0 ? `, ${unfinished} unfinished` : ''} in ${(elapsedMs / 1000).toFixed(2)}s\n`,
  )
}
