// Recent-sample percentiles for run, wait and cancel times: a fixed ring, no allocation per sample.
import type { Percentiles } from '../common/types'

export class Recent {
  private readonly samples: Float64Array
  private next = 0
  private filled = 0

  constructor(size = 1024) {
    this.samples = new Float64Array(size)
  }

  add(ms: number): void {
    this.samples[this.next] = ms
    this.next = (this.next + 1) % this.samples.length
    if (this.filled < this.samples.length) this.filled++
  }

  percentiles(): Percentiles {
    if (this.filled === 0) return { p50: 0, p99: 0, max: 0, count: 0 }
    const sorted = this.samples.slice(0, this.filled).sort()
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
    return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]!, count: this.filled }
  }
}
