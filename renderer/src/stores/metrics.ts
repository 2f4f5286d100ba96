// The engine's metrics as the charts need them: the latest figures and ten minutes of samples.
// Fed by the tasks store with the metrics its event batches carry (about once a second).
import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import type { Stats } from '../../../common/types'

/** Metrics kept for the charts: one sample a second, ten minutes. */
export const HISTORY_SAMPLES = 600

export interface StatsSample {
  at: number
  stats: Stats
}

export const useMetricsStore = defineStore('metrics', () => {
  /** The latest metrics; null until the engine's first. */
  const stats = ref<Stats | null>(null)
  /** The last HISTORY_SAMPLES metrics, oldest first. Replaced (never mutated) per sample. */
  const history = shallowRef<StatsSample[]>([])

  function record(next: Stats, at = Date.now()): void {
    stats.value = next
    const samples = history.value.length >= HISTORY_SAMPLES ? history.value.slice(1) : history.value.slice()
    samples.push({ at, stats: next })
    history.value = samples
  }

  return { stats, history, record }
})
