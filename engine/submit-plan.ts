// A submission turned into the tasks it creates: a batch expanded into its tasks with their
// names, "#N" sibling refs resolved to ids, every `after` checked to name a known task, and
// dependency cycles refused, each naming the field; then (checkJobs) every job named exists and
// every built-in's params are in range. Nothing is scheduled here.
import { BUILTIN_JOBS, isCommandSpec, TaskloopError, type BuiltinJob, type ExecutorKind, type SubmitSpec, type TaskSpec } from '../common/types'
import { checkParams } from './jobs/builtins'
import { DEFAULT_EXECUTOR } from './jobs/job'
import { checkJob, type ResolveOptions } from './jobs/resolve'
import type { BatchConfig } from './scheduler'

export interface PlannedTask {
  id: string
  spec: TaskSpec
  executor: ExecutorKind
}

export interface SubmitPlan {
  tasks: PlannedTask[]
  batch: (BatchConfig & { id: string }) | null
}

export interface PlanContext {
  newTaskId(): string
  newBatchId(): string
  /** A task the engine already holds (an `after` outside this submission). */
  known(id: string): boolean
}

/** `spec` is validated already (parseSubmitSpec); refusals throw a TaskloopError 'invalid' naming the field. */
export function planSubmit(spec: SubmitSpec, ctx: PlanContext): SubmitPlan {
  if (!('batch' in spec)) {
    checkAfter(spec, '', NO_SIBLINGS, ctx)
    return { tasks: [planned(ctx.newTaskId(), spec)], batch: null }
  }
  const b = spec.batch
  const batchId = ctx.newBatchId()
  const n = b.tasks.length
  const ids: string[] = []
  for (let i = 0; i < n; i++) ids.push(ctx.newTaskId())
  // One string per distinct job in memory, not one per task (a parsed batch has a copy in each spec).
  const jobs = new Map<string, string>()
  const batchName = b.name ?? 'batch'
  const tasks: PlannedTask[] = []
  let withAfter = false
  for (let i = 0; i < n; i++) {
    const t = b.tasks[i]!
    // Not `{ ...t, name }`: spreading specs of mixed shapes gives every copy a hidden class of its
    // own (V8), which cost ~170 B per task kept in memory and slowed every later read of it.
    const spec: TaskSpec = Object.assign({}, t)
    spec.name = t.name ?? `${batchName} #${i + 1}`
    if ('job' in spec) {
      const job = jobs.get(spec.job)
      if (job === undefined) jobs.set(spec.job, spec.job)
      else spec.job = job
    }
    if (t.after) {
      spec.after = t.after.map((dep, j) => resolveLocal(dep, ids, i, `batch.tasks.${i}.after.${j}`))
      withAfter = true
    }
    tasks.push(planned(ids[i]!, spec))
  }
  if (withAfter) {
    // One set for the whole batch: building it per task made a big submit quadratic.
    const siblings = new Set(ids)
    const specs = tasks.map((t) => t.spec)
    specs.forEach((t, i) => checkAfter(t, `batch.tasks.${i}.`, siblings, ctx))
    checkCycles(specs, ids)
  }
  return {
    tasks,
    batch: {
      id: batchId,
      name: b.name ?? 'batch',
      concurrency: b.concurrency ?? b.tasks.length,
      // failFast is the old name of "firstError" (the schema refused the two disagreeing).
      returnWhen: b.returnWhen ?? (b.failFast ? 'firstError' : 'all'),
      timeoutMs: b.timeoutMs ?? null,
      onSettled: b.onSettled ?? 'cancel',
    },
  }
}

/** Where a spec runs: commands on the command executor, else its `executor`, else the built-in's default, else the loop. */
export function executorOf(spec: TaskSpec): ExecutorKind {
  if (isCommandSpec(spec)) return 'command'
  if (spec.executor) return spec.executor
  return (BUILTIN_JOBS as readonly string[]).includes(spec.job) ? DEFAULT_EXECUTOR[spec.job as BuiltinJob] : 'loop'
}

const NO_SIBLINGS: ReadonlySet<string> = new Set()

const planned = (id: string, spec: TaskSpec): PlannedTask => ({ id, spec, executor: executorOf(spec) })

/** "#N" inside a batch names its N-th task. */
function resolveLocal(dep: string, ids: string[], self: number, path: string): string {
  if (!dep.startsWith('#')) return dep
  const n = Number(dep.slice(1))
  if (!Number.isInteger(n) || n < 0 || n >= ids.length) {
    throw new TaskloopError('invalid', `${path}: "${dep}" names no task of this batch (it has ${ids.length})`, path)
  }
  if (n === self) throw new TaskloopError('invalid', `${path}: a task cannot wait for itself`, path)
  return ids[n]!
}

function checkAfter(spec: TaskSpec, prefix: string, siblings: ReadonlySet<string>, ctx: PlanContext): void {
  spec.after?.forEach((dep, i) => {
    if (!siblings.has(dep) && !ctx.known(dep)) {
      throw new TaskloopError('invalid', `${prefix}after.${i}: unknown task id "${dep}"`, `${prefix}after.${i}`)
    }
  })
}

/** Dependencies inside one batch must not loop: a cycle would wait forever. */
function checkCycles(specs: TaskSpec[], ids: string[]): void {
  if (!specs.some((s) => s.after !== undefined && s.after.length > 0)) return
  const index = new Map(ids.map((id, i) => [id, i]))
  const state = new Uint8Array(specs.length) // 0 new, 1 on the path, 2 done
  const visit = (i: number, path: number[]): void => {
    if (state[i] === 2) return
    if (state[i] === 1) {
      const loop = [...path.slice(path.indexOf(i)), i].map((n) => `#${n}`).join(' → ')
      throw new TaskloopError('invalid', `batch.tasks.${i}.after: dependency cycle ${loop}`, `batch.tasks.${i}.after`)
    }
    state[i] = 1
    for (const dep of specs[i]!.after ?? []) {
      const j = index.get(dep)
      if (j !== undefined) visit(j, [...path, i])
    }
    state[i] = 2
  }
  for (let i = 0; i < specs.length; i++) visit(i, [])
}

/**
 * Refuses a plan whose job specs name no job (an unknown built-in, a missing module or export) or
 * give a built-in params it cannot take, naming the field in the user's words ("params.ms: ms must
 * be 0 or more"). A module that exists but throws when loaded is let through: its tasks fail.
 * `looked`: the looks already made for other plans (the many one-task plans of one call).
 */
export async function checkJobs(plan: SubmitPlan, opts: ResolveOptions, looked?: Map<string, Promise<string | null>>): Promise<void> {
  const known = new Set<string>()
  for (let i = 0; i < plan.tasks.length; i++) {
    const spec = plan.tasks[i]!.spec
    if (isCommandSpec(spec)) continue
    // One look per distinct job name, at its first task: a batch of 10,000 tasks of one module
    // imports it once and waits once (a failure was thrown at that first task).
    if (known.has(spec.job)) continue
    // The field's path is built only where it may be named, not for every task.
    const prefix = plan.batch ? `batch.tasks.${i}.` : ''
    if ((BUILTIN_JOBS as readonly string[]).includes(spec.job)) {
      const bad = checkParams(spec.job as BuiltinJob, spec.params ?? {})
      if (bad) throw new TaskloopError('invalid', `${prefix}params.${bad.key}: ${bad.key} ${bad.rule}`, `${prefix}params.${bad.key}`)
      continue
    }
    known.add(spec.job)
    let look = looked?.get(spec.job)
    if (!look) {
      look = checkJob(spec.job, opts)
      looked?.set(spec.job, look)
    }
    const message = await look
    if (message) throw new TaskloopError('invalid', `${prefix}job: ${message}`, `${prefix}job`)
  }
}
