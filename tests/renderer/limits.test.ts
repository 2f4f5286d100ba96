// @vitest-environment happy-dom
// Issue 9 item 7: a limit being edited is never overwritten by live data; Enter, Tab or leaving
// the field applies it, and the field says whether the engine took it.
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import Limits from '../../renderer/src/components/Limits.vue'
import { useMetricsStore } from '../../renderer/src/stores/metrics'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { TaskloopError, type Stats } from '../../common/types'
import { batch, fakeApi, snapshot } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

async function setup() {
  const { api, emit } = fakeApi()
  useTasksStore().connect(api)
  emit(snapshot(1, []))
  const wrapper = mount(Limits, { attachTo: document.body })
  await flush()
  const input = wrapper.find<HTMLInputElement>('input[name="limit-thread"]')
  return { api, emit, wrapper, input }
}

describe('concurrency limits', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('keeps what is typed while the engine sends new limits, then applies it on Enter', async () => {
    const { api, emit, wrapper, input } = await setup()
    expect(input.element.value).toBe('4')
    await input.trigger('focus')
    await input.setValue('3')
    // Live data arrives while the field has focus: a batch with other limits.
    emit({ ...batch(2, []), limits: { loop: 256, thread: 2, process: 4, command: 16 } })
    await flush()
    expect(input.element.value).toBe('3')
    await input.trigger('keydown', { key: 'Enter' })
    await flush()
    expect(api.setLimits).toHaveBeenCalledWith({ thread: 3 })
    expect(wrapper.find('#limit-thread-status').text()).toBe('set to 3')
    wrapper.unmount()
  })

  it('applies on leaving the field, and shows the live value once it is left', async () => {
    const { api, emit, wrapper, input } = await setup()
    await input.trigger('focus')
    await input.setValue('7')
    await input.trigger('blur')
    await flush()
    expect(api.setLimits).toHaveBeenCalledWith({ thread: 7 })
    expect(input.element.value).toBe('7')
    emit({ ...batch(2, []), limits: { loop: 256, thread: 5, process: 4, command: 16 } })
    await flush()
    expect(input.element.value).toBe('5')
    wrapper.unmount()
  })

  it('says why a value was not taken, in the field and by the engine', async () => {
    const { api, wrapper, input } = await setup()
    await input.trigger('focus')
    await input.setValue('0')
    await input.trigger('blur')
    await flush()
    expect(api.setLimits).not.toHaveBeenCalled()
    expect(wrapper.find('#limit-thread-status').text()).toBe('thread concurrency must be a whole number from 1 to 1024')
    expect(input.attributes('aria-invalid')).toBe('true')

    api.setLimits.mockRejectedValueOnce(new TaskloopError('shutting-down', 'the engine is shutting down'))
    await input.trigger('focus')
    await input.setValue('6')
    await input.trigger('blur')
    await flush()
    expect(wrapper.find('#limit-thread-status').text()).toBe('the engine is shutting down')
    wrapper.unmount()
  })
})

const pool = { running: 0, pending: 0 }
const pools = { loop: pool, thread: pool, process: pool, command: pool }

describe('group limits', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('lists the groups with a limit, sets a new one, edits one keeping the typed value, and removes one when emptied', async () => {
    const { api, wrapper } = await setup()
    const metrics = useMetricsStore()
    metrics.stats = { paused: false, groupLimits: { db: 2 }, pools } as unknown as Stats
    await flush()
    expect(wrapper.find('[role="status"]').exists()).toBe(false)
    const db = () => wrapper.find<HTMLInputElement>('input[name="group-limit-db"]')
    expect(db().element.value).toBe('2')

    await wrapper.find('input[name="new-group"]').setValue('net')
    await wrapper.find('input[name="new-group-limit"]').setValue(3)
    await wrapper.find('form.group-limit-new').trigger('submit')
    await flush()
    expect(api.setGroupLimit).toHaveBeenCalledWith('net', 3)
    expect(wrapper.find('[data-group-status]').text()).toBe('net: set to 3')
    // Shown at once from the reply (the fake engine answers with the one group it was given).
    expect(wrapper.find<HTMLInputElement>('input[name="group-limit-net"]').element.value).toBe('3')

    metrics.stats = { ...metrics.stats!, groupLimits: { db: 2, net: 3 } }
    await flush()
    await db().trigger('focus')
    await db().setValue('5')
    // Live stats arrive while the field is being edited: the typed value stays.
    metrics.stats = { ...metrics.stats!, groupLimits: { db: 2, net: 3 } }
    await flush()
    expect(db().element.value).toBe('5')
    await db().trigger('keydown', { key: 'Enter' })
    await flush()
    expect(api.setGroupLimit).toHaveBeenLastCalledWith('db', 5)

    metrics.stats = { ...metrics.stats!, groupLimits: { db: 5, net: 3 } }
    await flush()
    const net = wrapper.find<HTMLInputElement>('input[name="group-limit-net"]')
    await net.trigger('focus')
    await net.setValue('')
    await net.trigger('blur')
    await flush()
    expect(api.setGroupLimit).toHaveBeenLastCalledWith('net', null)
    wrapper.unmount()
  })

  it('shows the engine’s refusal and refuses an empty group name without asking', async () => {
    const { api, wrapper } = await setup()
    useMetricsStore().stats = { paused: false, groupLimits: {}, pools } as unknown as Stats
    await flush()
    expect(wrapper.text()).toContain('No group has a limit.')
    await wrapper.find('form.group-limit-new').trigger('submit')
    await flush()
    expect(api.setGroupLimit).not.toHaveBeenCalled()
    expect(wrapper.find('[data-group-status]').text()).toBe('give a group name')
    api.setGroupLimit.mockRejectedValueOnce(new TaskloopError('invalid', 'groupLimit.limit: too big', 'limit'))
    await wrapper.find('input[name="new-group"]').setValue('db')
    await wrapper.find('input[name="new-group-limit"]').setValue(99999)
    await wrapper.find('form.group-limit-new').trigger('submit')
    await flush()
    expect(wrapper.find('[data-group-status]').text()).toBe('groupLimit.limit: too big')
    wrapper.unmount()
  })
})
