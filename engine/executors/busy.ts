// One worker's busy time: total, runs finished, and utilization over the last 10 s,
// kept in per-second buckets so a stream of tiny runs costs O(1) each and no allocation.

const BUCKET_MS = 1000
const BUCKETS = 10

export class BusyMeter {
  busyMs = 0
  runs = 0
  private since: number | null = null
  private readonly born = performance.now()
  private readonly ms = new Float64Array(BUCKETS)
  /** Which second each bucket holds (a ring). */
  private readonly second = new Float64Array(BUCKETS).fill(-1)

  begin(now = performance.now()): void {
    this.since ??= now
  }

  /**
   * A run ended (finished, failed or lost with its worker). `ranMs`: its run time as the worker
   * timed it; without it, the time since begin() (message delays included).
   */
  end(ranMs?: number, now = performance.now()): void {
    if (this.since === null) return
    const ms = Math.max(0, Math.min(ranMs ?? Infinity, now - this.since))
    this.add(now - ms, now)
    this.busyMs += ms
    this.since = null
    this.runs++
  }

  /** Busy share of the last 10 s (of the worker's life, when younger). */
  utilization(now = performance.now()): number {
    const first = Math.floor(now / BUCKET_MS) - (BUCKETS - 1)
    const from = Math.max(first * BUCKET_MS, this.born)
    let busy = 0
    for (let i = 0; i < BUCKETS; i++) if (this.second[i] >= first) busy += this.ms[i]
    if (this.since !== null) busy += now - Math.max(this.since, from)
    const elapsed = now - from
    return elapsed <= 0 ? 0 : Math.min(1, busy / elapsed)
  }

  /** Total busy ms including a run in progress. */
  total(now = performance.now()): number {
    return this.busyMs + (this.since === null ? 0 : now - this.since)
  }

  private add(from: number, to: number): void {
    while (from < to) {
      const s = Math.floor(from / BUCKET_MS)
      const upTo = Math.min(to, (s + 1) * BUCKET_MS)
      const i = s % BUCKETS
      if (this.second[i] !== s) {
        this.second[i] = s
        this.ms[i] = 0
      }
      this.ms[i] += upTo - from
      from = upTo
    }
  }
}
