// The pending queue of one executor: highest priority first, FIFO among equals, cancelled skipped.
import { describe, expect, it } from 'vitest'
import { TaskQueue } from '../../../engine/queue'
import { Task } from '../../../engine/task'

const task = (seq: number, priority = 0) => new Task(`t${seq}`, seq, { job: 'sleep', priority }, 'loop', null)

const drain = (q: TaskQueue): string[] => {
  const order: string[] = []
  for (let t = q.pop(); t; t = q.pop()) order.push(t.id)
  return order
}

describe('TaskQueue', () => {
  it('pops by priority, FIFO among equals, and skips tasks no longer pending', () => {
    const q = new TaskQueue()
    const ts = [task(1), task(2, 5), task(3), task(4, 5), task(5, -1), task(6)]
    for (const t of ts) q.push(t)
    ts[2]!.to('cancelled', 'user')
    expect(drain(q)).toEqual(['t2', 't4', 't1', 't6', 't5'])
    expect(q.size).toBe(0)
    expect(q.pop()).toBeUndefined()
  })

  it('keeps seq order when a task with an older seq comes back (a retry) behind newer ones of priority 0', () => {
    const q = new TaskQueue()
    const ts = Array.from({ length: 3000 }, (_, i) => task(i + 2))
    for (const t of ts) q.push(t)
    const popped = [q.pop()!.id, q.pop()!.id]
    q.push(task(1)) // older than everything queued: first again
    q.push(task(9000, 1))
    popped.push(...drain(q))
    expect(popped.slice(0, 4)).toEqual(['t2', 't3', 't9000', 't1'])
    expect(popped.slice(4)).toEqual(ts.slice(2).map((t) => t.id))
    expect(q.size).toBe(0)
  })

  it('agrees with a stable sort on 1,000 random pushes and cancels, interleaved with pops', () => {
    // A fixed linear congruential sequence: the same "random" case on every run.
    let x = 42
    const rand = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n)
    const q = new TaskQueue()
    const model: Task[] = []
    const popped: string[] = []
    const expected: string[] = []
    const nextOfModel = (): Task | undefined => {
      const live = model.filter((t) => t.state === 'pending')
      live.sort((a, b) => b.priority - a.priority || a.seq - b.seq)
      const top = live[0]
      if (top) model.splice(model.indexOf(top), 1)
      return top
    }
    for (let seq = 1; seq <= 1000; seq++) {
      const t = task(seq, rand(5) - 2)
      q.push(t)
      model.push(t)
      const victim = rand(10) === 0 ? model[rand(model.length)] : undefined
      if (victim?.state === 'pending') victim.to('cancelled', 'user')
      if (rand(3) === 0) {
        popped.push(q.pop()?.id ?? 'none')
        expected.push(nextOfModel()?.id ?? 'none')
      }
    }
    popped.push(...drain(q))
    for (let t = nextOfModel(); t; t = nextOfModel()) expected.push(t.id)
    expect(popped).toEqual(expected)
  })
})
