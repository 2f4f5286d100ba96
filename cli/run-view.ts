// `taskloop run`'s live terminal view. On a TTY: a compact table redrawn ~10 times a second,
// plus counters. Elsewhere (pipes, CI logs): one line per state change.
import { clampProgress } from '../common/progress'
import type { Counters, TaskSnapshot, TaskState } from '../common/types'
import { TASK_STATES } from '../common/types'

export interface RunView {
  /** The latest snapshot of every task (in submission order) and the counters. */
  update(tasks: ReadonlyMap<string, TaskSnapshot>, counters: Counters): void
  /** A message for the user (the shutdown notice), kept clear of the table. */
  note(line: string): void
  /** Final render; the terminal is left as it was found (cursor shown). */
  finish(): void
}

const REDRAW_MS = 100
const ESC = '\x1b['

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)}s`

/**
 * Text a task provided (its name, output, error), made inert for a terminal: control characters
 * (C0 but tab, ESC, DEL, C1) and bidirectional overrides are printed as visible escapes such as
 * `\x1b`, so a task cannot write the clipboard (OSC 52), move the cursor over earlier lines or
 * retitle the window.
 */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0)
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`
  })
}

export const taskLabel = (t: TaskSnapshot): string => visible(t.name || t.id)

function duration(t: TaskSnapshot, now: number): string {
  if (t.startedAt === null) return '-'
  return seconds((t.endedAt ?? now) - t.startedAt)
}

/** What a state-change line says after the name. */
function detail(t: TaskSnapshot): string {
  switch (t.state) {
    case 'running':
      return t.worker ? ` (${visible(t.worker)})` : ''
    case 'pending':
      return t.attempt > 1 ? ` (attempt ${t.attempt})` : ''
    case 'failed':
      return ` (${t.reason ?? 'error'}${t.error ? `: ${visible(t.error.message.split('\n')[0]!)}` : ''})`
    case 'cancelled':
      return t.reason ? ` (${t.reason}${t.ignoredCancel ? ', ignored cancel' : ''})` : ''
    case 'done':
      return t.startedAt !== null && t.endedAt !== null ? ` in ${seconds(t.endedAt - t.startedAt)}` : ''
    default:
      return ''
  }
}

export function countersLine(c: Counters): string {
  return TASK_STATES.map((s) => `${s} ${c[s]}`).join('  ')
}

/** `[  1.23s] running  fetch page 3 (thread 4)` for every state change. */
export function lineView(out: NodeJS.WritableStream, notes: NodeJS.WritableStream, startedAt: number): RunView {
  const printed = new Map<string, string>()
  return {
    update(tasks) {
      const now = Date.now()
      for (const t of tasks.values()) {
        const key = `${t.state}/${t.attempt}`
        if (printed.get(t.id) === key) continue
        printed.set(t.id, key)
        const elapsed = ((now - startedAt) / 1000).toFixed(2).padStart(6)
        out.write(`[${elapsed}s] ${t.state.padEnd(8)} ${taskLabel(t)}${detail(t)}\n`)
      }
    },
    note(line) {
      notes.write(`${line}\n`)
    },
    finish() {},
  }
}

const COLORS: Record<TaskState, string> = {
  pending: '2',
  running: '36',
  cancelling: '35',
  done: '32',
  failed: '31',
  cancelled: '33',
}

/** Which tasks get a row when they do not all fit: the ones a user watches first. */
const ROW_PRIORITY: Record<TaskState, number> = { running: 0, cancelling: 0, failed: 1, pending: 2, cancelled: 3, done: 4 }

function fit(text: string, width: number): string {
  if (width <= 0) return ''
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width)
}

export function ttyView(out: NodeJS.WriteStream, notes: NodeJS.WritableStream, startedAt: number): RunView {
  const color = !process.env.NO_COLOR
  const paint = (code: string, text: string) => (color ? `${ESC}${code}m${text}${ESC}0m` : text)
  let tasks: ReadonlyMap<string, TaskSnapshot> = new Map()
  let counters: Counters | null = null
  let drawnLines = 0
  let finished = false

  const rows = (): string[] => {
    const now = Date.now()
    // Every line fits the terminal (a wrapped line would break the redraw): narrower, the bar
    // shrinks to a percentage, then the executor and the time columns go.
    const width = Math.max(20, (out.columns || 100) - 1)
    const barWidth = width >= 90 ? 20 : width >= 60 ? 10 : 0
    const execWidth = width >= 48 ? 8 : 0
    const timeWidth = width >= 36 ? 8 : 0
    const progressWidth = barWidth > 0 ? barWidth + 7 : 4
    // name ␣ executor ␣ state(10) ␣ [bar] pct(4) ␣ duration
    const nameWidth = Math.max(1, width - (10 + progressWidth + 2) - (execWidth && execWidth + 1) - (timeWidth && timeWidth + 1))
    const maxRows = Math.max(3, (out.rows || 24) - 5)
    let shown = [...tasks.values()]
    let hidden = 0
    if (shown.length > maxRows) {
      const order = new Map(shown.map((t, i) => [t.id, i]))
      shown = shown
        .slice()
        .sort((a, b) => ROW_PRIORITY[a.state] - ROW_PRIORITY[b.state] || order.get(a.id)! - order.get(b.id)!)
        .slice(0, maxRows - 1)
        .sort((a, b) => order.get(a.id)! - order.get(b.id)!)
      hidden = tasks.size - shown.length
    }
    const columns = (name: string, executor: string, state: string, progress: string, time: string): string[] => [
      name,
      ...(execWidth ? [executor] : []),
      state,
      progress,
      ...(timeWidth ? [time] : []),
    ]
    const header = columns(fit('NAME', nameWidth), fit('EXECUTOR', execWidth), fit('STATE', 10), fit(barWidth ? 'PROGRESS' : '%', progressWidth), 'TIME'.padStart(timeWidth))
    const lines = [paint('2', header.join(' '))]
    for (const t of shown) {
      const fraction = t.state === 'done' ? 1 : t.progress
      const filled = fraction === null ? 0 : Math.round((clampProgress(fraction) ?? 0) * barWidth)
      const pct = fraction === null ? '    ' : `${Math.round(fraction * 100)}%`.padStart(4)
      const bar = barWidth === 0 ? pct : fraction === null ? `[${' '.repeat(barWidth)}]     ` : `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${pct}`
      lines.push(
        columns(
          fit(taskLabel(t), nameWidth),
          fit(t.executor, execWidth),
          paint(COLORS[t.state], fit(t.state, 10)),
          bar,
          fit(duration(t, now).padStart(timeWidth), timeWidth),
        ).join(' '),
      )
    }
    if (hidden > 0) lines.push(paint('2', fit(`… ${hidden} more`, width)))
    const c = counters
    const summary = c ? `${countersLine(c)}   ${seconds(now - startedAt)}` : seconds(now - startedAt)
    lines.push(fit(summary, width).trimEnd())
    return lines
  }

  const clear = (): void => {
    if (drawnLines > 0) out.write(`${ESC}${drawnLines}A\r${ESC}J`)
    drawnLines = 0
  }
  const draw = (): void => {
    const lines = rows()
    clear()
    out.write(lines.join('\n') + '\n')
    drawnLines = lines.length
  }
  const showCursor = (): void => void out.write(`${ESC}?25h`)

  out.write(`${ESC}?25l`)
  process.once('exit', showCursor)
  const timer = setInterval(draw, REDRAW_MS)

  return {
    update(next, nextCounters) {
      tasks = next
      counters = nextCounters
    },
    note(line) {
      // Both streams reach the same terminal: lift the table, print the note, redraw below it.
      if (!finished) clear()
      notes.write(`${line}\n`)
      if (!finished) draw()
    },
    finish() {
      if (finished) return
      finished = true
      clearInterval(timer)
      draw()
      showCursor()
      process.off('exit', showCursor)
    },
  }
}
