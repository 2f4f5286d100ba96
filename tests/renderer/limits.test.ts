// @vitest-environment happy-dom
// Issue 9 item 7: a limit being edited is never overwritten by live data; Enter, Tab or leaving
// the field applies it, and the field says whether the engine took it.
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import Limits from '../../renderer/src/components/Limits.vue'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import { TaskloopError } from '../../common/types'
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
