// How times and durations read in the table and the shutdown overlay.

/** "850 ms", "4.2 s", "3 m 05 s", "2 h 07 m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.floor(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} m`
}

// toLocaleTimeString builds a formatter per call (it was the table's hottest function while
// scrolling): one formatter, and the last few hundred seconds' strings kept.
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
const times = new Map<number, string>()

/** Local time of day, "14:03:27". */
export function formatTime(epochMs: number): string {
  const second = Math.floor(epochMs / 1000)
  let text = times.get(second)
  if (text === undefined) {
    if (times.size > 512) times.clear()
    text = timeFormat.format(second * 1000)
    times.set(second, text)
  }
  return text
}
