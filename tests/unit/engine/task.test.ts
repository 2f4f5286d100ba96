import { describe, expect, it } from 'vitest'
import { TaskQueue } from '../../../engine/queue'
import { Task } from '../../../engine/task'

const task = (seq: number, priority = 0) => new Task(`t${seq}`, seq, { job: 'sleep', priority }, 'loop', null)

describe('Task state machine', () => {
  it('follows the legal transitions and stamps times', () => {
    const t = task(1)
    expect(t.state).toBe('pending')
    t.to('running')
    expect(t.startedAt).not.toBeNull()
    t.to('cancelling', 'user')
    t.to('cancelled', 'user')
    expect(t.final).toBe(true)
    expect(t.endedAt).not.toBeNull()
    expect(t.snapshot()).toMatchObject({ id: 't1', name: 'sleep', state: 'cancelled', reason: 'user', executor: 'loop' })
  })

  it('refuses illegal transitions', () => {
    const t = task(1)
    expect(() => t.to('done')).toThrow(/illegal transition pending → done/)
    t.to('cancelled', 'user')
    expect(() => t.to('running')).toThrow(/illegal transition/)
  })
})

describe('TaskQueue', () => {
  it('pops by priority, FIFO among equals, and skips tasks no longer pending', () => {
    const q = new TaskQueue()
    const ts = [task(1), task(2, 5), task(3), task(4, 5), task(5, -1), task(6)]
    for (const t of ts) q.push(t)
    ts[2]!.to('cancelled', 'user')
    const order: string[] = []
    for (let t = q.pop(); t; t = q.pop()) order.push(t.id)
    expect(order).toEqual(['t2', 't4', 't1', 't6', 't5'])
  })
})
