// The one normaliser of a job's result: plain JSON, the same value whichever executor ran the
// job, and small (results travel to every client). It runs where the job ran (in the worker for
// the pools), so a huge result is cut before it crosses to the engine.
import { MAX_RESULT_CHARS } from '../../common/defaults'
import { TaskFailure } from './executor'

/** What a result too big to keep shows of its JSON. */
const PREVIEW_CHARS = 1000
/** JSON escapes a character into at most 6: a string shorter than this cannot pass the cap. */
const SAFE_STRING_CHARS = Math.floor((MAX_RESULT_CHARS - 2) / 6)

/** JSON (undefined and non-finite numbers become null); too big: `{truncated, chars, preview}`. Not JSON: a TaskFailure. */
export function toResult(value: unknown): unknown {
  if (value === undefined || value === null) return null
  // Scalars need no round trip (JSON has no NaN or Infinity, and no -0).
  if (typeof value === 'number') return Number.isFinite(value) ? value + 0 : null
  if (typeof value === 'boolean') return value
  if (typeof value === 'string' && value.length <= SAFE_STRING_CHARS) return value
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw new TaskFailure('error', `job result is not JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (text === undefined) return null
  if (text.length > MAX_RESULT_CHARS) return { truncated: true, chars: text.length, preview: text.slice(0, PREVIEW_CHARS) }
  return JSON.parse(text)
}
