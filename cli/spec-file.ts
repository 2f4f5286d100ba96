// `taskloop run FILE.json`: the file holds a JobSpec, an array of them, or `{batch}`.
// Validated here, at the boundary, with a message that names the file and the field.
import { readFile } from 'node:fs/promises'
import { parseSubmitSpec } from '../common/schema'
import { TaskloopError } from '../common/types'
import type { SubmitSpec } from '../common/types'

/** Bad input: the CLI prints the message and exits 2. */
export class SpecFileError extends Error {
  override name = 'SpecFileError'
}

function parseAt(value: unknown, prefix: string): SubmitSpec {
  try {
    return parseSubmitSpec(value)
  } catch (e) {
    const err = TaskloopError.from(e)
    if (err.code !== 'invalid' || prefix === '') throw new SpecFileError(err.message)
    const path = err.path ?? ''
    const message = err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message
    const full = path === '' || path === 'spec' ? prefix : `${prefix}.${path}`
    throw new SpecFileError(`${full}: ${message}`)
  }
}

export interface FileSpec {
  spec: SubmitSpec
  /** Where it sits in the file, as a path prefix for the engine's refusals ("2." in an array, else ""). */
  at: string
}

export async function readSpecFile(file: string): Promise<FileSpec[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new SpecFileError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${(e as Error).message})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new SpecFileError(`${file}: not valid JSON (${(e as Error).message})`)
  }
  try {
    if (Array.isArray(value)) {
      if (value.length === 0) throw new SpecFileError('expected at least one spec, got an empty array')
      return value.map((v, i) => ({ spec: parseAt(v, String(i)), at: `${i}.` }))
    }
    if (typeof value !== 'object' || value === null) {
      throw new SpecFileError('expected a JobSpec, an array of JobSpecs, or {"batch": ...}')
    }
    return [{ spec: parseAt(value, ''), at: '' }]
  } catch (e) {
    throw e instanceof SpecFileError ? new SpecFileError(`${file}: ${e.message}`) : e
  }
}
