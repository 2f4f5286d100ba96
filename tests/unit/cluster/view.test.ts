import { describe, expect, it } from 'vitest'
import { currentAttempt, type TaskSnapshot } from '../../../common/types'
import { fromChanges, packChanges, queuedSnapshot, RemoteTasks, taskChanges, unpackChanges } from '../../../cluster/view'

/** Through JSON, as on `taskloop:events`. */
const roundTrip = (t: TaskSnapshot): TaskSnapshot => fromChanges(JSON.parse(JSON.stringify(taskChanges(t))))

describe('taskChanges / fromChanges: a cluster task on taskloop:events', () => {
  const queued = queuedSnapshot('q1-a', { name: 'tiny', job: '/jobs.mjs#noop', group: 'g' }, 'taskloop', { createdAt: 1000 })
  const ran: TaskSnapshot = { ...queued, state: 'running', attempt: 1, worker: 'loop', startedAt: 1001, node: 'n2', progress: 0.5, progressMessage: 'half' }
  const done: TaskSnapshot = { ...ran, state: 'done', endedAt: 1002, progress: 1, result: { ok: true } }
  done.attempts = [currentAttempt(done)]

  it('sends a task just queued as its id, queue, time and spec alone', () => {
    expect(taskChanges(queued)).toEqual({ id: 'q1-a', queue: 'taskloop', createdAt: 1000, spec: queued.spec })
  })

  it('gives back every field of the snapshot, whatever its state and attempts', () => {
    const failedTwice: TaskSnapshot = { ...done, state: 'failed', attempt: 2, result: null, error: { message: 'boom' }, retryOf: null }
    failedTwice.attempts = [done.attempts[0]!, currentAttempt(failedTwice)]
    for (const t of [queued, ran, done, failedTwice, { ...queued, name: 'renamed', executor: 'thread' as const, group: null }]) {
      expect(roundTrip(t)).toEqual(t)
    }
  })

  it('sends the current attempt alone as a number, and only what differs', () => {
    const c = taskChanges(done)
    expect(c.attempts).toBe(0)
    expect(Object.keys(c).sort()).toEqual(['attempts', 'createdAt', 'endedAt', 'id', 'node', 'progress', 'progressMessage', 'queue', 'result', 'spec', 'startedAt', 'state', 'worker'])
  })
})

describe('packChanges / unpackChanges: the tasks of one message', () => {
  const spec = (i: number) => ({ name: `tiny ${i}`, job: '/jobs.mjs#noop', ...(i === 2 ? { params: { n: 2 } } : {}) })
  const queued = [1, 2, 3].map((i) => queuedSnapshot(`q1-${i}`, spec(i), 'taskloop', { createdAt: 1000 }))
  const done = queued.map((t, i): TaskSnapshot => ({ ...t, state: 'done', node: 'n2', worker: 'loop', startedAt: 1001 + i, endedAt: 1002 + i, progress: 1, result: i === 1 ? { ok: true } : null }))
  for (const t of done) t.attempts = [currentAttempt(t)]
  const through = (list: TaskSnapshot[]): TaskSnapshot[] => {
    const { same, tasks } = JSON.parse(JSON.stringify(packChanges(list.map(taskChanges)))) as ReturnType<typeof packChanges>
    return tasks.map((t) => fromChanges(unpackChanges(same, t) as ReturnType<typeof taskChanges>))
  }

  it('says what every task shares once, and gives every task back whole', () => {
    for (const list of [queued, done, [...queued, ...done], [{ ...done[0]!, state: 'failed' as const, error: { message: 'boom' } }, done[1]!]]) {
      expect(through(list)).toEqual(list)
    }
    const packed = packChanges(queued.map(taskChanges))
    expect(packed.same).toEqual({ queue: 'taskloop', createdAt: 1000, spec: { job: '/jobs.mjs#noop' } })
    expect(packed.tasks[0]).toEqual({ id: 'q1-1', spec: { name: 'tiny 1' } })
    const many = Array.from({ length: 20 }, (_, i) => taskChanges(queuedSnapshot(`q1-${i}`, spec(i + 10), 'taskloop', { createdAt: 1000 })))
    expect(JSON.stringify(packChanges(many)).length).toBeLessThan(JSON.stringify(many).length * 0.5)
  })

  it('takes no prototype from a message (outside data)', () => {
    const text = '{"same":{"queue":"taskloop","__proto__":{"state":"done"},"spec":{"job":"x","__proto__":{"bad":1}}},"tasks":[{"id":"q1-1","createdAt":1,"__proto__":{"node":"evil"},"spec":{"name":"a"}}]}'
    const { same, tasks } = JSON.parse(text) as ReturnType<typeof packChanges>
    const t = fromChanges(unpackChanges(same, tasks[0]!) as ReturnType<typeof taskChanges>)
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype)
    expect(Object.getPrototypeOf(t.spec)).toBe(Object.prototype)
    expect([t.state, t.node, (t.spec as Record<string, unknown>).bad]).toEqual(['pending', null, undefined])
    expect(t.spec).toEqual({ job: 'x', name: 'a' })
  })

  it('sends a lone task as it is', () => {
    expect(packChanges([taskChanges(done[0]!)])).toEqual({ tasks: [taskChanges(done[0]!)] })
  })
})

describe('RemoteTasks: the bound on other nodes’ tasks', () => {
  it('forgets the oldest finished ones in a step and hands their ids over once, for the next batch’s forgot', () => {
    const view = new RemoteTasks()
    const at = (i: number, state: TaskSnapshot['state']): TaskSnapshot => ({ ...queuedSnapshot(`r${i}`, { job: 'sleep' }, 'taskloop', { createdAt: i }), state })
    // One unfinished task first: it is never forgotten.
    view.put(at(0, 'running'))
    for (let i = 1; i < 20_000; i++) view.put(at(i, 'done'))
    expect(view.takeForgotten()).toBeNull()
    view.put(at(20_000, 'done'))
    const gone = view.takeForgotten()!
    expect(gone.length).toBe(20_001 - 18_000)
    expect(gone[0]).toBe('r1')
    expect(gone.at(-1)).toBe('r2001')
    expect(gone).not.toContain('r0')
    expect(view.takeForgotten()).toBeNull()
    expect(view.counters.done + view.counters.running).toBe(18_000)
  })
})
