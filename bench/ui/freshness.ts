// Freshness from outside: when each finished job reached the page, from the page's count of
// finished jobs over time and the system's own record of when each job finished.

/**
 * The k-th job to finish (by finish time) is shown once the page's count reaches k: per job that
 * finished in [from, to], the first frame whose count covers it, minus its finish time.
 */
export function freshness(finishTimes: number[], counts: Array<[number, number]>, from: number, to: number): { lags: number[]; unseen: number } {
  const finished = [...finishTimes].sort((a, b) => a - b)
  const lags: number[] = []
  let unseen = 0
  let at = 0
  finished.forEach((t, k) => {
    if (t < from || t > to) return
    // Counts only grow (finished jobs stay), so the first frame covering job k is at or after the previous one's.
    while (at < counts.length && counts[at]![1] < k + 1) at++
    if (at === counts.length) unseen++
    else lags.push(counts[at]![0] - t)
  })
  return { lags, unseen }
}
