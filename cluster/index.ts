// STUB, to be replaced by the cluster-core branch's cluster/index.ts (issue 12): only the entry's
// signature (docs/ARCHITECTURE.md), so that main/index.ts type-checks against it. Joining refuses.
import type { ExecutorKind } from '../common/types'
import type { EngineHandle } from '../engine/handle'

export interface ClusterOptions {
  redis: string
  nodeId?: string
  queues?: string[]
  queueAllow?: ExecutorKind[]
  lists?: string[]
  listJob?: string
  stalledIntervalMs?: number
  heartbeatMs?: number
}

export interface ClusterNodeHandle extends EngineHandle {
  leave(): Promise<void>
}

export async function joinCluster(_engine: EngineHandle, _options: ClusterOptions): Promise<ClusterNodeHandle> {
  throw new Error('the cluster layer is not built yet')
}
