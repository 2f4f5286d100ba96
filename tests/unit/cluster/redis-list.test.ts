// What an item of a Redis list becomes (cluster/redis-list.ts): a JSON task spec is that task,
// anything else a task of the list job with params.item; a batch, or a plain item with no list
// job, is refused with a reason.
import { describe, expect, it } from 'vitest'
import { itemSpec, listKeys } from '../../../cluster/redis-list'
import { TaskloopError } from '../../../common/types'

describe('itemSpec', () => {
  it('takes a JSON object naming a job or a command as the task spec', () => {
    expect(itemSpec('q', '{"job":"sleep","params":{"ms":5}}', 'sleep-seconds')).toEqual({ job: 'sleep', params: { ms: 5 } })
    expect(itemSpec('q', ' {"command":"true"}', null)).toEqual({ command: 'true' })
    expect(itemSpec('q', '{"argv":["true"]}', null)).toEqual({ argv: ['true'] })
  })

  it('makes any other item params.item of the list job, named after the list and the item', () => {
    expect(itemSpec('queue', '2', 'sleep-seconds')).toEqual({ name: 'queue: 2', job: 'sleep-seconds', params: { item: '2' } })
    // JSON that is no task spec is an item like any other, passed as it was pushed.
    expect(itemSpec('q', '{"url":"http://x"}', 'fetch')).toMatchObject({ job: 'fetch', params: { item: '{"url":"http://x"}' } })
    expect(itemSpec('q', '{not json', 'j')).toMatchObject({ params: { item: '{not json' } })
    expect(itemSpec('q', 'x'.repeat(100), 'j').name).toBe(`q: ${'x'.repeat(60)}…`)
  })

  it('refuses a batch, and a plain item when no list job is named', () => {
    const refusal = (item: string, job: string | null) => {
      try {
        itemSpec('q', item, job)
      } catch (e) {
        return e
      }
      return null
    }
    expect(refusal('{"batch":{"tasks":[]}}', 'j')).toMatchObject({ code: 'invalid', message: 'a list item is one task: a {batch} is not taken' })
    const plain = refusal('2', null)
    expect(plain).toBeInstanceOf(TaskloopError)
    expect(plain).toMatchObject({ code: 'invalid', message: expect.stringContaining('no --list-job') })
  })

  it('keeps a node\'s lists apart', () => {
    expect(listKeys('n1', 'queue')).toEqual({
      processing: 'taskloop:list:n1:queue',
      tasks: 'taskloop:list-tasks:n1:queue',
      refused: 'taskloop:list-refused:queue',
    })
  })
})
