// @vitest-environment happy-dom
// Issue 9 item 12: the open task and the filters live in the URL; a link opens the same view.
import { createPinia, setActivePinia } from 'pinia'
import { nextTick, ref } from 'vue'
import { beforeEach, describe, expect, it } from 'vitest'
import { useTableStore } from '../../renderer/src/stores/table'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { bindUrl, readFragment, writeFragment } from '../../renderer/src/url-state'
import { defaultQuery } from '../../renderer/src/stores/view'
import { fakeApi } from './fixtures'

const VIEWS = ['tasks', 'timeline', 'metrics', 'history'] as const

describe('the view in the URL', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    useTasksStore().connect(fakeApi().api)
    window.history.replaceState(null, '', '/?token=abc')
  })

  it('writes only what differs from the defaults, and reads back the same view', () => {
    expect(writeFragment('tasks', 'tasks', null, defaultQuery())).toBe('')
    const q = { ...defaultQuery(), state: 'failed' as const, search: 'boom #1', sort: 'name' as const, desc: false }
    const fragment = writeFragment('timeline', 'tasks', 't-42', q)
    expect(fragment).toBe('#view=timeline&state=failed&q=boom+%231&sort=name&desc=0&task=t-42')
    expect(readFragment(fragment, VIEWS)).toEqual({ view: 'timeline', task: 't-42', query: q })
    // Unknown values are ignored rather than trusted.
    expect(readFragment('#state=exploded&executor=gpu&view=nope', VIEWS)).toEqual({ task: null, query: defaultQuery() })
  })

  it('opens the view a link names, then keeps the URL current, leaving the token query alone', async () => {
    window.history.replaceState(null, '', '/?token=abc#state=running&task=t-7')
    const table = useTableStore()
    const view = ref<(typeof VIEWS)[number]>('tasks')
    const unbind = bindUrl(table, view, VIEWS)
    expect(table.query.state).toBe('running')
    expect(table.detailId).toBe('t-7')
    table.query.search = 'spin'
    table.detailId = null
    view.value = 'metrics'
    await nextTick()
    expect(window.location.search).toBe('?token=abc')
    expect(window.location.hash).toBe('#view=metrics&state=running&q=spin')
    unbind()
  })
})
