// bench/ui/freshness.ts: the k-th job to finish counts as shown at the first frame whose count reaches k.
import { describe, expect, it } from 'vitest'
import { freshness } from '../../../bench/ui/freshness'

describe('bench/ui freshness', () => {
  it('measures each job of the window from its finish to the first frame that counts it', () => {
    // Five jobs finished (out of order in the record); the page showed 1, then 3, then 5.
    const finished = [1000, 1300, 1100, 2000, 2050]
    const counts: Array<[number, number]> = [
      [900, 0],
      [1050, 1],
      [1400, 3],
      [2500, 5],
    ]
    // The window [1050, 2100] holds the jobs finished at 1100, 1300, 2000 and 2050 (ranks 2..5).
    expect(freshness(finished, counts, 1050, 2100)).toEqual({ lags: [300, 100, 500, 450], unseen: 0 })
  })

  it('counts the jobs of the window the page never showed', () => {
    const counts: Array<[number, number]> = [[0, 0], [150, 1]]
    expect(freshness([100, 200, 300], counts, 0, 1000)).toEqual({ lags: [50], unseen: 2 })
  })

  it('leaves out jobs finished outside the window', () => {
    expect(freshness([100, 5000], [[0, 0], [200, 1], [5100, 2]], 1000, 2000)).toEqual({ lags: [], unseen: 0 })
  })
})
