// Turns a spec's `job` string into a function: a built-in, `path/to/module.mjs#export`,
// or a plain name exported by a module in one of the jobs folders.
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { BUILTIN_JOBS, type BuiltinJob } from '../../common/types'
import { BUILTINS } from './builtins'
import type { JobFn } from './job'

export interface ResolveOptions {
  /** Base folder for relative module paths. */
  cwd: string
  /** Folders whose .js/.mjs modules may be named by export alone. */
  jobsDirs?: string[]
}

// Per absolute path, and re-imported when the file changes: a user fixing a module needs no
// restart. A failure is kept too, so a broken module fails the same way until it is edited.
const modules = new Map<string, { mtimeMs: number; mod: Promise<Record<string, unknown>> }>()

/** The job a spec names does not exist (as opposed to existing and failing to load). */
export class JobNotFound extends Error {}

const isBuiltin = (name: string): name is BuiltinJob => (BUILTIN_JOBS as readonly string[]).includes(name)
const looksLikePath = (name: string): boolean => /[\\/#]/.test(name) || /\.[cm]?js$/.test(name)

function importModule(file: string): Promise<Record<string, unknown>> {
  let mtimeMs: number
  try {
    mtimeMs = statSync(file).mtimeMs
  } catch {
    return Promise.reject(new JobNotFound(`job module not found: ${file}`))
  }
  const cached = modules.get(file)
  if (cached?.mtimeMs === mtimeMs) return cached.mod
  // Node caches modules by URL: a changed file needs a new URL.
  const url = pathToFileURL(file).href + (cached ? `?v=${mtimeMs}` : '')
  const mod = (async () => {
    try {
      return (await import(/* @vite-ignore */ url)) as Record<string, unknown>
    } catch (e) {
      throw new Error(`job module ${file} failed to load: ${describeLoadError(e)}`)
    }
  })()
  modules.set(file, { mtimeMs, mod })
  return mod
}

/** A syntax error's message has no position; Node puts "file:///x.mjs:LINE" first in the stack. */
function describeLoadError(e: unknown): string {
  if (!(e instanceof Error)) return String(e)
  const where = e instanceof SyntaxError ? /^file:\/\/\S*?:(\d+)\n/.exec(e.stack ?? '') : null
  return where ? `${e.message} (line ${where[1]})` : e.message
}

function pick(mod: Record<string, unknown>, exportName: string, file: string): JobFn {
  if (!(exportName in mod)) throw new JobNotFound(`job module ${file} has no export "${exportName}"`)
  const fn = mod[exportName]
  if (typeof fn !== 'function') throw new JobNotFound(`export "${exportName}" of ${file} is not a function`)
  return fn as JobFn
}

export async function loadJob(name: string, opts: ResolveOptions): Promise<JobFn> {
  if (isBuiltin(name)) return BUILTINS[name]
  if (looksLikePath(name)) {
    const hash = name.lastIndexOf('#')
    const rel = hash < 0 ? name : name.slice(0, hash)
    const exportName = hash < 0 ? 'default' : name.slice(hash + 1)
    const file = path.resolve(opts.cwd, rel)
    return pick(await importModule(file), exportName, file)
  }
  for (const dir of opts.jobsDirs ?? []) {
    const abs = path.resolve(opts.cwd, dir)
    let entries: string[]
    try {
      entries = readdirSync(abs).filter((f) => /\.m?js$/.test(f)).sort()
    } catch {
      continue // a missing jobs folder only means fewer jobs
    }
    for (const f of entries) {
      const file = path.join(abs, f)
      const mod = await importModule(file).catch(() => null) // a broken neighbour must not hide a good job
      if (mod && typeof mod[name] === 'function') return mod[name] as JobFn
    }
  }
  const dirs = opts.jobsDirs?.length ? `; jobs folders: ${opts.jobsDirs.join(', ')}` : ''
  throw new JobNotFound(`unknown job "${name}" (built-in jobs: ${BUILTIN_JOBS.join(', ')}${dirs})`)
}

/**
 * Why `name` names no job, or null when it does. Submit refuses such a spec; a module that exists
 * but fails to load is not refused here: its tasks fail with the load error, as at run time.
 * Imports the module (cached, as the loop executor would), so its top-level code runs once here.
 */
export async function checkJob(name: string, opts: ResolveOptions): Promise<string | null> {
  if (isBuiltin(name)) return null
  try {
    await loadJob(name, opts)
    return null
  } catch (e) {
    return e instanceof JobNotFound ? e.message : null
  }
}
