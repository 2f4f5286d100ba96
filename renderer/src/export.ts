// Exporting tasks as JSON or CSV (the history view's selection, or its page).
import type { TaskSnapshot } from '../../common/types'

export const CSV_COLUMNS = [
  'id',
  'name',
  'executor',
  'state',
  'reason',
  'attempt',
  'worker',
  'group',
  'batchId',
  'createdAt',
  'startedAt',
  'endedAt',
  'durationMs',
  'error',
] as const

const iso = (ms: number | null): string => (ms === null ? '' : new Date(ms).toISOString())

function cells(t: TaskSnapshot): Record<(typeof CSV_COLUMNS)[number], string> {
  return {
    id: t.id,
    name: t.name,
    executor: t.executor,
    state: t.state,
    reason: t.reason ?? '',
    attempt: String(t.attempt),
    worker: t.worker ?? '',
    group: t.group ?? '',
    batchId: t.batchId ?? '',
    createdAt: iso(t.createdAt),
    startedAt: iso(t.startedAt),
    endedAt: iso(t.endedAt),
    durationMs: t.startedAt !== null && t.endedAt !== null ? String(t.endedAt - t.startedAt) : '',
    error: t.error?.message ?? '',
  }
}

/**
 * RFC 4180: quoted when needed, quotes doubled. A cell a spreadsheet would run as a formula
 * (= + - @ at the start: task names and errors come from users and programs) gets a leading '.
 */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

export function toCsv(tasks: readonly TaskSnapshot[]): string {
  const rows = [CSV_COLUMNS.join(',')]
  for (const t of tasks) {
    const c = cells(t)
    rows.push(CSV_COLUMNS.map((k) => csvCell(c[k])).join(','))
  }
  return rows.join('\r\n') + '\r\n'
}

/** Full snapshots (spec, attempts, result), for a later import or a bug report. */
export const toJson = (tasks: readonly TaskSnapshot[]): string => JSON.stringify(tasks, null, 2) + '\n'

/** Hands a file to the browser's (or Electron's) download. */
export function download(fileName: string, mime: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }))
  const a = document.createElement('a')
  a.href = url
  a.download = fileName
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
