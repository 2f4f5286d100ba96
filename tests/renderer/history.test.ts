// @vitest-environment happy-dom
import { flushPromises, mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import type { HistoryQuery } from '../../common/types'
import History from '../../renderer/src/components/History.vue'
import { task } from './fixtures'

// 120 tasks, newest first, as the store pages them.
const all = Array.from({ length: 120 }, (_, i) => task({ id: `t${119 - i}`, name: `job ${119 - i}`, state: i % 3 ? 'done' : 'failed' }))
const load = vi.fn(async (q: HistoryQuery) => {
  const list = all.filter((t) => !q.state || t.state === q.state)
  const from = q.before ? list.findIndex((t) => t.id === q.before) + 1 : 0
  return list.slice(from, from + (q.limit ?? 100))
})

describe('History', () => {
  it('pages newest first with Older / Newer, filters by state, selects rows to export', async () => {
    const w = mount(History, { props: { load } })
    await flushPromises()
    const names = () => w.findAll('tbody tr[data-history-id]').map((r) => r.attributes('data-history-id'))
    expect(names()).toHaveLength(50)
    expect(names()[0]).toBe('t119')
    const button = (label: string) => w.findAll('button').find((b) => b.text() === label)!
    await button('Older').trigger('click')
    await flushPromises()
    expect(load).toHaveBeenLastCalledWith({ limit: 50, before: 't70' })
    expect(names()[0]).toBe('t69')
    await button('Newer').trigger('click')
    await flushPromises()
    expect(names()[0]).toBe('t119')
    await w.find('select').setValue('failed')
    await flushPromises()
    expect(load).toHaveBeenLastCalledWith({ limit: 50, state: 'failed' })
    expect(names().length).toBe(40)
    await w.find('input[aria-label="Select job 119"]').setValue(true)
    expect(w.text()).toContain('Export 1 selected as CSV')
  })
})
