// The app's settings: `settings.json` in Electron's userData folder, e.g.
//   { "jobsDirs": ["/home/me/jobs"] }
// Job modules in those folders can be named by export alone (like `taskloop serve --jobs DIR`).
// TASKLOOP_JOBS (folders separated by the path delimiter) adds to them. A broken file is reported,
// never fatal: the app starts with what could be read.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'

const settingsSchema = z.strictObject({
  jobsDirs: z.array(z.string().min(1).max(4096)).max(100).optional(),
})

export interface AppSettings {
  jobsDirs: string[]
  /** What was wrong with settings.json, if anything. */
  problem: string | null
}

export function readSettings(file: string, env: NodeJS.ProcessEnv = process.env): AppSettings {
  const fromEnv = (env['TASKLOOP_JOBS'] ?? '').split(path.delimiter).filter(Boolean)
  let jobsDirs: string[] = []
  let problem: string | null = null
  let text: string | null = null
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem = `cannot read ${file}: ${(e as Error).message}`
  }
  if (text !== null) {
    try {
      const r = settingsSchema.safeParse(JSON.parse(text))
      if (r.success) jobsDirs = r.data.jobsDirs ?? []
      else problem = `${file}: ${r.error.issues[0]!.path.join('.') || 'settings'}: ${r.error.issues[0]!.message}`
    } catch (e) {
      problem = `${file} is not valid JSON: ${(e as Error).message}`
    }
  }
  const base = path.dirname(file)
  return { jobsDirs: [...jobsDirs, ...fromEnv].map((d) => path.resolve(base, d)), problem }
}
