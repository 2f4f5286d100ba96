// The brokers behind ctx.queue and ctx.lock, alone: FIFO service, backpressure, join, an aborted
// waiter that leaves its line, a queue forgotten once idle, a lock handed on in order.
import { describe, expect, it } from 'vitest'
import { Locks } from '../../../engine/locks'
import { Queues } from '../../../engine/queues'

const never = new AbortController().signal
const tick = () => new Promise((r) => setImmediate(r))

describe('Queues', () => {
  it('serves getters first come first served, and a bounded put waits for room', async () => {
    const q = new Queues()
    const a = q.get('q', 1, 'A', never)
    const b = q.get('q', 1, 'B', never)
    await q.put('q', 1, 'x', 'P', never)
    await q.put('q', 1, 'y', 'P', never)
    expect(await a).toBe('x')
    expect(await b).toBe('y')
    await q.put('q', 1, 1, 'P', never)
    let second = false
    const put2 = q.put('q', 1, 2, 'P', never).then(() => (second = true))
    await tick()
    expect(second).toBe(false)
    expect(q.stats()).toEqual([{ name: 'q', size: 1, maxSize: 1, getters: 0, putters: 1, unfinished: 3 }])
    expect(await q.get('q', 1, 'C', never)).toBe(1)
    await put2
    expect(await q.get('q', 1, 'C', never)).toBe(2)
  })

  it('join waits for taskDone of every item; an idle queue is forgotten', async () => {
    const q = new Queues()
    await q.put('j', undefined, 'a', 'P', never)
    let joined = false
    const join = q.join('j', undefined, 'J', never).then(() => (joined = true))
    await q.get('j', undefined, 'C', never)
    await tick()
    expect(joined).toBe(false)
    q.taskDone('j', undefined)
    await join
    expect(q.stats()).toEqual([])
    expect(() => q.taskDone('j', undefined)).toThrow(/more times than items/)
  })

  it('an aborted getter leaves the line with an AbortError and takes no item', async () => {
    const q = new Queues()
    const ac = new AbortController()
    const got = q.get('c', undefined, 'A', ac.signal)
    ac.abort()
    await expect(got).rejects.toMatchObject({ name: 'AbortError' })
    await q.put('c', undefined, 'kept', 'P', never)
    expect(q.size('c')).toBe(1)
  })
})

describe('Queues, backpressure cancelled', () => {
  it('an aborted putter on a full queue leaves the line and its item never enters', async () => {
    const q = new Queues()
    await q.put('b', 1, 'first', 'P', never)
    const ac = new AbortController()
    const put = q.put('b', 1, 'dropped', 'P', ac.signal)
    ac.abort()
    await expect(put).rejects.toMatchObject({ name: 'AbortError' })
    expect(await q.get('b', 1, 'C', never)).toBe('first')
    expect(q.stats()).toEqual([{ name: 'b', size: 0, maxSize: 1, getters: 0, putters: 0, unfinished: 1 }])
  })
})

describe('Locks', () => {
  it('hands the lock on in order; releaseAll frees a dead holder; only the holder releases', async () => {
    const l = new Locks()
    await l.acquire('m', 'A', never)
    const order: string[] = []
    const b = l.acquire('m', 'B', never).then(() => order.push('B'))
    const c = l.acquire('m', 'C', never).then(() => order.push('C'))
    expect(l.stats()).toEqual([{ name: 'm', holder: 'A', waiters: ['B', 'C'] }])
    expect(() => l.release('m', 'B')).toThrow(/not held by this task/)
    l.releaseAll('A')
    await b
    expect(l.held('B')).toEqual(['m'])
    l.release('m', 'B')
    await c
    l.release('m', 'C')
    expect(order).toEqual(['B', 'C'])
    expect(l.stats()).toEqual([])
  })
})
