import { describe, expect, it } from 'vitest'
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
