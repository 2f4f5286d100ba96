// Placeholder with the exact signature shared in the cluster contract: the Redis-list consumer
// (issue 12 item 5) is written on the cluster-list branch, whose file replaces this one. Until
// then a node started with a list refuses it with a clear error instead of ignoring it.
import type { Redis } from 'ioredis'
import type { SubmitSpec, TaskState } from '../common/types'

export interface ListConsumerOptions {
  /** A dedicated connection for the blocking BLMOVE. */
  redis: Redis
  nodeId: string
  /** The list, e.g. "queue". */
  key: string
  /** Job for non-JSON items (params.item = the item). */
  listJob: string | null
  /** Returns the task id. */
  submit: (spec: SubmitSpec, meta: { queue: string }) => Promise<string>
  /** Resolves when the task is done, failed or cancelled. */
  waitFinal: (id: string) => Promise<TaskState>
  onError: (error: Error) => void
}

export function startListConsumer(options: ListConsumerOptions): { stop(): Promise<void> } {
  throw new Error(`--redis-list ${options.key}: this build has no Redis-list consumer yet`)
}
