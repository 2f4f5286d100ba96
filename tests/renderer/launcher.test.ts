// @vitest-environment happy-dom
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import Launcher from '../../renderer/src/components/Launcher.vue'
import { useTasksStore } from '../../renderer/src/stores/tasks'
import type { BatchSpec, Stats } from '../../common/types'
import { useMetricsStore } from '../../renderer/src/stores/metrics'
import { fakeApi } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

function setup() {
  setActivePinia(createPinia())
  const { api } = fakeApi()
  useTasksStore().connect(api)
  const wrapper = mount(Launcher)
  const launch = async () => {
    await wrapper.find('form').trigger('submit')
    // The spec's checks load with the first launch.
    await vi.dynamicImportSettled()
    await flush()
  }
  return { api, wrapper, launch }
}

describe('launcher', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('submits one job spec from the form', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('textarea[name="params"]').setValue('{"ms": 250}')
    await wrapper.find('select[name="executor"]').setValue('thread')
    await launch()
    expect(api.submit).toHaveBeenCalledWith({ job: 'sleep', params: { ms: 250 }, executor: 'thread' })
    expect(wrapper.text()).toContain('Launched 1 task')
  })

  it('submits a batch with the concurrency when asked for more than one', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('input[name="count"]').setValue(3)
    await wrapper.find('input[name="concurrency"]').setValue(2)
    await launch()
    const spec = api.submit.mock.calls[0]![0] as BatchSpec
    expect(spec.batch.concurrency).toBe(2)
    expect(spec.batch.tasks).toHaveLength(3)
  })

  it('refuses params that are not JSON, naming the field, without submitting', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('textarea[name="params"]').setValue('{ms: 1}')
    await launch()
    expect(api.submit).not.toHaveBeenCalled()
    expect(wrapper.find('[role="alert"]').text()).toMatch(/^params: not valid JSON/)
    expect(wrapper.find('textarea[name="params"]').attributes('aria-invalid')).toBe('true')
  })

  it('refuses params that are not an object', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('textarea[name="params"]').setValue('[1, 2]')
    await launch()
    expect(api.submit).not.toHaveBeenCalled()
    expect(wrapper.find('[role="alert"]').text()).toContain('params: expected a JSON object')
  })

  it('checks the spec with the contract schema and shows the field it names', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('input[name="timeoutMs"]').setValue(-5)
    await launch()
    expect(api.submit).not.toHaveBeenCalled()
    expect(wrapper.find('[role="alert"]').text()).toMatch(/^timeoutMs: /)
    expect(wrapper.find('input[name="timeoutMs"]').attributes('aria-invalid')).toBe('true')
  })

  it('shows the engine’s refusal with its field, mapped from inside a batch', async () => {
    const { api, wrapper, launch } = setup()
    api.submit.mockRejectedValueOnce({ code: 'invalid', error: 'batch.tasks.0.job: unknown job "nope"', path: 'batch.tasks.0.job' })
    await wrapper.find('input[name="count"]').setValue(2)
    await launch()
    // The form's batch repeats one spec: the message speaks of the form's field, not of task 0.
    expect(wrapper.find('[role="alert"]').text()).toBe('job: unknown job "nope"')
    expect(wrapper.find('input[name="job"]').attributes('aria-invalid')).toBe('true')
  })

  it('launches a preset as is', async () => {
    const { api, wrapper } = setup()
    const preset = wrapper.findAll('.presets button').find((b) => b.text().startsWith('TaskPool'))!
    await preset.trigger('click')
    await flush()
    const spec = api.submit.mock.calls[0]![0] as BatchSpec
    expect(spec.batch.concurrency).toBe(10)
    expect(spec.batch.tasks).toHaveLength(100)
  })

  it('a preset that needs a pool size sets the limit first, then submits', async () => {
    const { api, wrapper } = setup()
    const preset = wrapper.findAll('.presets button').find((b) => b.text().includes('on processes'))!
    await preset.trigger('click')
    await flush()
    expect(api.setLimits).toHaveBeenCalledWith({ process: 3 })
    expect(api.setLimits.mock.invocationCallOrder[0]!).toBeLessThan(api.submit.mock.invocationCallOrder[0]!)
    const spec = api.submit.mock.calls[0]![0] as BatchSpec
    expect(spec.batch.tasks.map((t) => ('executor' in t ? t.executor : null))).toEqual(['process', 'process', 'process', 'process'])
  })

  it('offers the classic examples: gather, TaskPool, Pool(3) on threads and processes, chain, producer/consumer, timeout, ignores cancel', () => {
    const { wrapper } = setup()
    const labels = wrapper.findAll('.presets button').map((b) => b.text())
    for (const re of [/^gather/, /^TaskPool/, /Pool\(3\).*threads/, /Pool\(3\).*processes/, /^chain/, /producer/, /times out/, /ignores cancel/]) {
      expect(labels.some((l) => re.test(l))).toBe(true)
    }
  })
})

describe('launcher refusals and notes', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('says when intake is paused', async () => {
    const { wrapper, launch } = setup()
    useMetricsStore().stats = { paused: true } as Stats
    await launch()
    expect(wrapper.text()).toContain('Launched 1 task. Intake is paused: they wait until you resume it.')
  })
})

describe('launcher group and recent launches', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    localStorage.clear()
  })

  it('puts the group into the spec, for one task and for each task of a batch', async () => {
    const { api, wrapper, launch } = setup()
    await wrapper.find('input[name="group"]').setValue(' db ')
    await launch()
    expect(api.submit).toHaveBeenLastCalledWith({ job: 'sleep', params: { ms: 1000 }, group: 'db' })
    await wrapper.find('input[name="count"]').setValue(2)
    await launch()
    const spec = api.submit.mock.calls[1]![0] as BatchSpec
    expect(spec.batch.tasks.map((t) => t.group)).toEqual(['db', 'db'])
  })

  it('remembers the last 10 launched forms in localStorage and fills the form from one', async () => {
    const first = setup()
    expect(first.wrapper.find('select[name="recent"]').exists()).toBe(false)
    await first.wrapper.find('input[type="radio"][value="command"]').setValue(true)
    await first.wrapper.find('input[name="command"]').setValue('echo hi')
    await first.wrapper.find('input[name="group"]').setValue('io')
    await first.launch()
    for (let i = 0; i < 11; i++) {
      await first.wrapper.find('input[name="command"]').setValue(`echo ${i}`)
      await first.launch()
    }
    // A refused launch is not remembered.
    first.api.submit.mockRejectedValueOnce({ code: 'invalid', error: 'command: bad', path: 'command' })
    await first.wrapper.find('input[name="command"]').setValue('refused')
    await first.launch()
    first.wrapper.unmount()

    // A new launcher (a reload) reads the list back.
    const { api, wrapper, launch } = setup()
    const options = wrapper.findAll('select[name="recent"] option').slice(1).map((o) => o.text())
    expect(options).toHaveLength(10)
    expect(options[0]).toBe('echo 10 [io]')
    expect(options).not.toContain('refused [io]')
    expect(options).not.toContain('echo hi [io]')
    await wrapper.find('select[name="recent"]').setValue('1')
    await flush()
    expect(wrapper.find<HTMLInputElement>('input[name="command"]').element.value).toBe('echo 9')
    expect(wrapper.find<HTMLInputElement>('input[name="group"]').element.value).toBe('io')
    await launch()
    expect(api.submit).toHaveBeenLastCalledWith({ command: 'echo 9', group: 'io' })
  })

  it('a job form comes back with its own params, not the job’s defaults', async () => {
    localStorage.setItem('taskloop.recentSpecs', JSON.stringify([
      { kind: 'job', name: '', job: 'primes', command: '', paramsText: '{"below":10}', executor: 'thread', count: 1, concurrency: 4, timeoutMs: '', retries: 0, group: '' },
      'junk',
    ]))
    const { api, wrapper, launch } = setup()
    expect(wrapper.findAll('select[name="recent"] option')).toHaveLength(2)
    await wrapper.find('select[name="recent"]').setValue('0')
    await flush()
    await launch()
    expect(api.submit).toHaveBeenLastCalledWith({ job: 'primes', params: { below: 10 }, executor: 'thread' })
  })
})
