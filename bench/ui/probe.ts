// What a page shows, seen from inside it, frame by frame: Playwright's own waits poll with a
// backoff (up to 500 ms between checks), too coarse to time a first paint. Shared by bench/ui and
// bench/wire.
import { sleep } from '../harness'

/**
 * An init script: checks the DOM every frame (a requestAnimationFrame callback, just before the
 * frame is painted) and keeps, in `window.__uiCompare`, when the first `rows` were in a frame
 * (`firstRowsAt`, ms since the epoch) and each change of the number `counted` shows ([ms, n]).
 */
export const probe = (rows: string, counted: string): string => `(() => {
  const probe = { firstRowsAt: null, counts: [] }
  window.__uiCompare = probe
  let last = null
  const frame = () => {
    const now = Date.now()
    if (probe.firstRowsAt === null && document.querySelector(${JSON.stringify(rows)})) probe.firstRowsAt = now
    const el = document.querySelector(${JSON.stringify(counted)})
    if (el) {
      const n = Number((el.textContent || '').replace(/[^0-9]/g, ''))
      if (n !== last) {
        last = n
        probe.counts.push([now, n])
      }
    }
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
})()`

/** What the probe saw so far. */
export interface Probed {
  firstRowsAt: number | null
  counts: Array<[number, number]>
}

/** Polls `get` until it gives a value (not null). */
export async function until<T>(timeoutMs: number, get: () => Promise<T | null>, what = 'waiting'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await get()
    if (value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms (${what})`)
    await sleep(50)
  }
}
