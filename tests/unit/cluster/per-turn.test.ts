import { describe, expect, it } from 'vitest'
import { PerTurn } from '../../../cluster/per-turn'

describe('PerTurn: calls of one turn sent together', () => {
  it('sends the calls of one turn as one, and answers each in order', async () => {
    const sent: number[][] = []
    const turn = new PerTurn<number, number>(async (items) => (sent.push(items), items.map((i) => i * 2)))
    expect(await Promise.all([1, 2, 3].map((i) => turn.add(i)))).toEqual([2, 4, 6])
    expect(sent).toEqual([[1, 2, 3]])
  })

  it('oneAtATime: calls made while one send is out go together once it answers', async () => {
    const sent: number[][] = []
    const answers: (() => void)[] = []
    const turn = new PerTurn<number, number>(
      (items) => new Promise((resolve) => (sent.push(items), answers.push(() => resolve(items)))),
      { soonWhenIdle: true, oneAtATime: true },
    )
    const first = turn.add(1)
    await new Promise((r) => setImmediate(r))
    expect(sent).toEqual([[1]])
    // Over several turns while the first is out: held, not sent.
    const later = [turn.add(2)]
    await new Promise((r) => setImmediate(r))
    later.push(turn.add(3))
    await new Promise((r) => setImmediate(r))
    expect(sent).toEqual([[1]])
    answers[0]!()
    expect(await first).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(sent).toEqual([[1], [2, 3]])
    answers[1]!()
    expect(await Promise.all(later)).toEqual([2, 3])
    // Idle again: the next goes at once.
    const next = turn.add(4)
    await Promise.resolve()
    await Promise.resolve()
    expect(sent.length).toBe(3)
    answers[2]!()
    expect(await next).toBe(4)
  })

  it('oneAtATime: a send that fails rejects its calls and the held ones still go', async () => {
    let calls = 0
    let fail!: (e: Error) => void
    const turn = new PerTurn<number, number>(
      (items) => (++calls === 1 ? new Promise((_, reject) => (fail = reject)) : Promise.resolve(items)),
      { oneAtATime: true },
    )
    const first = turn.add(1)
    await new Promise((r) => setImmediate(r))
    const second = turn.add(2)
    fail(new Error('engine restarted'))
    await expect(first).rejects.toThrow('engine restarted')
    expect(await second).toBe(2)
  })
})
