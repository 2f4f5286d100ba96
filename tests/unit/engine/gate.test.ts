// The counting gate of batches and groups: at most `limit` tasks past it, the rest held in order.
import { describe, expect, it } from 'vitest'
import { Gate } from '../../../engine/gate'
import { Task } from '../../../engine/task'

const task = (n: number) => new Task(`t${n}`, n, { job: 'sleep' }, 'loop', null)
const urgent = (n: number, priority: number) => new Task(`t${n}`, n, { job: 'sleep', priority }, 'loop', null)

describe('Gate', () => {
  it('lets `limit` tasks through and holds the rest', () => {
    const gate = new Gate(2, 'group-limit')
    const [a, b, c, d] = [1, 2, 3, 4].map(task)
    expect([a, b, c, d].map((t) => gate.enter(t!))).toEqual([true, true, false, false])
    expect(gate.active).toBe(2)
    expect(gate.waitingCount).toBe(2)
  })

  it('a task leaving admits the held ones first come, first served (equal priorities)', () => {
    const gate = new Gate(1, 'group-limit')
    const [a, b, c] = [1, 2, 3].map(task)
    gate.enter(a!)
    gate.enter(b!)
    gate.enter(c!)
    expect(gate.leave()).toEqual([b])
    expect(gate.leave()).toEqual([c])
    expect(gate.leave()).toEqual([])
    expect(gate.active).toBe(0)
  })

  it('admits the highest priority first, first come first served among equals', () => {
    const gate = new Gate(1, 'batch-slot')
    const [a, low, high, low2, higher] = [task(1), task(2), urgent(3, 5), task(4), urgent(5, 9)]
    for (const t of [a, low, high, low2, higher]) gate.enter(t!)
    expect(gate.leave()).toEqual([higher])
    expect(gate.leave()).toEqual([high])
    expect(gate.leave()).toEqual([low])
    expect(gate.leave()).toEqual([low2])
  })

  it('skips held tasks that were cancelled meanwhile', () => {
    const gate = new Gate(1, 'group-limit')
    const [a, b, c] = [1, 2, 3].map(task)
    gate.enter(a!)
    gate.enter(b!)
    gate.enter(c!)
    b!.to('cancelled', 'user')
    expect(gate.leave()).toEqual([c])
    expect(gate.waitingCount).toBe(0)
  })

  it('a raised limit admits more at once; a lowered one lets the active finish', () => {
    const gate = new Gate(1, 'group-limit')
    const ts = [1, 2, 3, 4].map(task)
    for (const t of ts) gate.enter(t)
    gate.limit = 3
    expect(gate.admit()).toEqual([ts[1], ts[2]])
    gate.limit = 1
    expect(gate.admit()).toEqual([])
    expect(gate.leave()).toEqual([]) // still 2 active, above the new limit
    expect(gate.leave()).toEqual([])
    expect(gate.leave()).toEqual([ts[3]])
  })

  it('an unlimited gate (a removed group limit) holds nothing', () => {
    const gate = new Gate(Infinity, 'group-limit')
    for (let i = 0; i < 1000; i++) expect(gate.enter(task(i))).toBe(true)
    expect(gate.waitingCount).toBe(0)
  })
})
