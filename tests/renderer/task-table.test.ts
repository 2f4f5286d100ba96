// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import Counters from '../../renderer/src/components/Counters.vue'
import TaskTable from '../../renderer/src/components/TaskTable.vue'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { fakeApi, snapshot, task } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

function setup() {
  setActivePinia(createPinia())
  const store = useTasksStore()
  const { api, emit } = fakeApi()
  store.connect(api)
  emit(
    snapshot(1, [
      task({ id: 'p', name: 'queued one', state: 'pending', waiting: 'group-limit' }),
      task({ id: 'r', name: 'sleep 2 s', state: 'running', progress: 0.5, progressMessage: 'half', startedAt: Date.now() - 1500, worker: 'loop' }),
      task({ id: 'f', name: 'broken', state: 'failed', reason: 'error', error: { message: 'boom' }, startedAt: 1, endedAt: 2 }),
      task({ id: 'c', name: 'stopped', state: 'cancelled', reason: 'user' }),
      task({ id: 'x', name: 'leaving', state: 'cancelling', startedAt: Date.now() - 100 }),
      task({ id: 'd', name: 'finished', state: 'done', startedAt: 1, endedAt: 1001 }),
    ]),
  )
  return { store, table: useTableStore(), api }
}

describe('task table', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('is a table with one row per task carrying id, state and an accessible name', () => {
    setup()
    const wrapper = mount(TaskTable)
    expect(wrapper.find('table').exists()).toBe(true)
    const rows = wrapper.findAll('tbody tr')
    expect(rows).toHaveLength(6)
    const row = wrapper.find('tr[data-task-id="r"]')
    expect(row.attributes('data-state')).toBe('running')
    expect(row.attributes('aria-label')).toBe('sleep 2 s running')
    expect(row.find('td.state').text()).toBe('running')
    expect(row.find('progress').attributes('value')).toBe('0.5')
    expect(row.text()).toContain('half')
    expect(wrapper.find('tr[data-task-id="f"] td.state').text()).toBe('failed')
    expect(wrapper.find('tr[data-task-id="p"] td.state').text()).toBe('pending · group limit')
    expect(wrapper.find('tr[data-task-id="f"]').text()).toContain('boom')
  })

  it('offers Cancel on pending and running rows, Retry on failed and cancelled ones, nothing else', () => {
    setup()
    const wrapper = mount(TaskTable)
    const names = wrapper
      .findAll('tbody button[aria-label]')
      .map((b) => b.attributes('aria-label'))
      .sort()
    expect(names).toEqual(['Cancel queued one', 'Cancel sleep 2 s', 'Retry broken', 'Retry stopped'])
  })

  it('row buttons and Cancel all call the API', async () => {
    const { api } = setup()
    const wrapper = mount(TaskTable)
    await wrapper.find('button[aria-label="Cancel sleep 2 s"]').trigger('click')
    expect(api.cancel).toHaveBeenCalledWith('r')
    await wrapper.find('button[aria-label="Retry broken"]').trigger('click')
    expect(api.retry).toHaveBeenCalledWith('f')
    const cancelAll = wrapper.findAll('button').find((b) => b.text() === 'Cancel all')!
    await cancelAll.trigger('click')
    await flush()
    expect(api.cancelAll).toHaveBeenCalled()
  })

  it('shows a counter per state named "<state> count"', () => {
    setup()
    const wrapper = mount(Counters)
    const count = (state: string) => wrapper.find(`[aria-label="${state} count"]`).text()
    expect(count('pending')).toBe('1')
    expect(count('running')).toBe('1')
    expect(count('cancelling')).toBe('1')
    expect(count('done')).toBe('1')
    expect(count('failed')).toBe('1')
    expect(count('cancelled')).toBe('1')
  })

  it('virtualizes: 10,000 tasks put only the rows in the window in the DOM, scrolling moves the window', async () => {
    setActivePinia(createPinia())
    const store = useTasksStore()
    const { api, emit } = fakeApi()
    store.connect(api)
    emit(snapshot(1, Array.from({ length: 10_000 }, (_, i) => task({ id: `t${i}`, name: `job ${i}` }))))
    const wrapper = mount(TaskTable, { attachTo: document.body })
    const rows = () => wrapper.findAll('tbody tr[data-task-id]')
    expect(rows().length).toBeGreaterThan(10)
    expect(rows().length).toBeLessThan(60)
    expect(rows()[0]!.attributes('data-task-id')).toBe('t9999')
    // The spacers stand in for the rest, so the scrollbar is the full list's.
    const spacer = wrapper.find('tr.spacer')
    expect(parseInt(spacer.attributes('style')!.replace(/\D+/g, ''))).toBeGreaterThan(9000 * 28)
    const scroller = wrapper.find('.table-scroll')
    ;(scroller.element as HTMLElement).scrollTop = 5000 * 28
    await scroller.trigger('scroll')
    const ids = rows().map((r) => r.attributes('data-task-id'))
    expect(ids).toContain('t4999')
    expect(ids).not.toContain('t9999')
    expect(ids.length).toBeLessThan(60)
    wrapper.unmount()
  })

  it('moves a cursor with the arrows, opens with Enter, selects with Space', async () => {
    const { table } = setup()
    const wrapper = mount(TaskTable, { attachTo: document.body })
    const scroller = wrapper.find('.table-scroll')
    await scroller.trigger('keydown', { key: 'ArrowDown' })
    expect(table.cursor).toBe('d') // newest first
    await scroller.trigger('keydown', { key: 'ArrowDown' })
    expect(table.cursor).toBe('x')
    expect(wrapper.find('tr[data-task-id="x"]').attributes('aria-current')).toBe('true')
    await scroller.trigger('keydown', { key: ' ' })
    expect([...table.selection]).toEqual(['x'])
    await scroller.trigger('keydown', { key: 'End' })
    expect(table.cursor).toBe('p')
    await scroller.trigger('keydown', { key: 'Enter' })
    expect(table.detailId).toBe('p')
    wrapper.unmount()
  })

  it('sorts from the column headers and filters from the toolbar', async () => {
    const { table } = setup()
    const wrapper = mount(TaskTable)
    await wrapper.find('button[aria-label="Sort by name"]').trigger('click')
    const names = () => wrapper.findAll('tbody tr[data-task-id] td.name').map((td) => td.text())
    expect(names()).toEqual(['broken', 'finished', 'leaving', 'queued one', 'sleep 2 s', 'stopped'])
    expect(wrapper.find('th[aria-sort="ascending"]').text()).toContain('Name')
    await wrapper.find('select[aria-label="Filter by state"]').setValue('running')
    expect(names()).toEqual(['sleep 2 s'])
    expect(table.query.state).toBe('running')
    expect(wrapper.find('h2').text()).toContain('1 of 6')
  })

  it('acts on a selection: Cancel selected and Retry selected only appear with one', async () => {
    const { api } = setup()
    const wrapper = mount(TaskTable)
    expect(wrapper.findAll('button').some((b) => b.text() === 'Cancel selected')).toBe(false)
    await wrapper.find('input[aria-label="Select all shown tasks"]').setValue(true)
    expect(wrapper.text()).toContain('6 selected')
    await wrapper.findAll('button').find((b) => b.text() === 'Cancel selected')!.trigger('click')
    await flush()
    expect(api.cancel.mock.calls.map((c) => c[0]).sort()).toEqual(['p', 'r'])
    await wrapper.findAll('button').find((b) => b.text() === 'Retry selected')!.trigger('click')
    await flush()
    expect(api.retry.mock.calls.map((c) => c[0]).sort()).toEqual(['c', 'f'])
  })

  describe('bulk actions act on what is shown', () => {
    const button = (wrapper: ReturnType<typeof mount>, text: string) => wrapper.findAll('button').find((b) => b.text() === text)

    it('with a filter on, the button reads "Cancel N shown" and cancels only those', async () => {
      const { api, table } = setup()
      const wrapper = mount(TaskTable)
      table.query.state = 'pending'
      await flush()
      expect(button(wrapper, 'Cancel 1 shown')).toBeDefined()
      await button(wrapper, 'Cancel 1 shown')!.trigger('click')
      await flush()
      expect(api.cancel.mock.calls.map((c) => c[0])).toEqual(['p'])
      expect(api.cancelAll).not.toHaveBeenCalled()
    })

    it('Cancel all beyond what is shown asks first, saying how many are hidden', async () => {
      const { api, table } = setup()
      const wrapper = mount(TaskTable)
      table.query.state = 'pending'
      await flush()
      await button(wrapper, 'Cancel all')!.trigger('click')
      await flush()
      expect(api.cancelAll).not.toHaveBeenCalled()
      const dialog = wrapper.find('[role="alertdialog"]')
      expect(dialog.text()).toContain('Cancel all 3 tasks not yet finished, 1 running now, 2 of them not shown by the filter?')
      await dialog.findAll('button').find((b) => b.text() === 'Keep them')!.trigger('click')
      expect(wrapper.find('[role="alertdialog"]').exists()).toBe(false)
      expect(api.cancelAll).not.toHaveBeenCalled()
      await button(wrapper, 'Cancel all')!.trigger('click')
      await wrapper.find('[role="alertdialog"] button.danger').trigger('click')
      await flush()
      expect(api.cancelAll).toHaveBeenCalledTimes(1)
    })

    it('more than a handful of running tasks asks first', async () => {
      const { api, store } = setup()
      const { api: many, emit } = fakeApi()
      store.connect(many)
      emit(snapshot(1, Array.from({ length: 6 }, (_, i) => task({ id: `r${i}`, name: `run ${i}`, state: 'running', startedAt: 1 }))))
      const wrapper = mount(TaskTable)
      await flush()
      await button(wrapper, 'Cancel all')!.trigger('click')
      await flush()
      expect(many.cancelAll).not.toHaveBeenCalled()
      expect(wrapper.find('[role="alertdialog"]').text()).toContain('Cancel 6 tasks, 6 of them running now?')
      await wrapper.find('[role="alertdialog"] button.danger').trigger('click')
      await flush()
      expect(many.cancelAll).toHaveBeenCalledTimes(1)
      expect(api.cancelAll).not.toHaveBeenCalled()
    })
  })
})
