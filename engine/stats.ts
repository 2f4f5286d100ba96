// The engine's figures: counts per state, pools and workers, event-loop lag, throughput, and the
// run, wait and cancel times of recent tasks. Each finished task adds a few numbers, no more;
// the figures are computed when asked (api.stats, and once a second while someone listens).
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { EXECUTORS, type ExecutorKind, type Stats } from '../common/types'
import type { EventBatcher } from './events'
import type { Executor } from './executors/executor'
import type { JobCalls } from './job-calls'
import { Recent } from './metrics'
import type { Scheduler } from './scheduler'
import type { Task } from './task'

const THROUGHPUT_WINDOW_MS = 10_000
/** Finishes are counted per slot of this many ms: the throughput window is a ring of such slots. */
const SLOT_MS = 100
const SLOTS = THROUGHPUT_WINDOW_MS / SLOT_MS
const PUBLISH_EVERY_MS = 1000
/**
 * The loop's lag is sampled by a timer this often: each tick wakes the engine thread when it would
 * sleep between workers' reports (~65-90 µs of CPU a wake-up on the bench machine under load, ~7 ms
 * of CPU a second at 10 ms). A stall of 50 ms or more is always seen; a shorter one when it spans a tick.
 */
const LAG_RESOLUTION_MS = 50

export class EngineStats {
  private readonly runMs = new Recent()
  private readonly waitMs = new Recent()
  private readonly cancelMs = new Recent()
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  private readonly startedAt = Date.now()
  /** Tasks finished per slot of the last window, and which slot (time / SLOT_MS) each count is for. */
  private readonly finishedIn = new Int32Array(SLOTS)
  private readonly slotOf = new Float64Array(SLOTS).fill(-1)
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly scheduler: Scheduler,
    private readonly executors: Record<ExecutorKind, Executor>,
    private readonly calls: JobCalls,
  ) {
    this.lag.enable()
  }

  /** Stats ride along the event batches once a second, only while someone listens. */
  publishTo(events: EventBatcher, read: () => Stats): void {
    this.timer = setInterval(() => {
      if (events.listenerCount > 0) events.changedStats(read())
    }, PUBLISH_EVERY_MS)
    this.timer.unref()
  }

  finished(t: Task): void {
    // Its end time, read when it moved: no second clock read per task.
    const now = t.endedAt ?? Date.now()
    // O(1) per task: a list of finish times filtered when long was refiltered on every finish once
    // more than its bound finished within one window (100k tasks at once).
    const slot = Math.floor(now / SLOT_MS)
    const i = slot % SLOTS
    if (this.slotOf[i] !== slot) {
      this.slotOf[i] = slot
      this.finishedIn[i] = 0
    }
    this.finishedIn[i]++
    if (t.startedAt !== null) {
      this.runMs.add(now - t.startedAt)
      this.waitMs.add(t.startedAt - t.createdAt)
    }
    if (t.state === 'cancelled' && t.cancelRequestedAt !== null) this.cancelMs.add(now - t.cancelRequestedAt)
  }

  /** The figures now; the facade adds what only it knows. */
  read(facade: Pick<Stats, 'shuttingDown' | 'store'>): Stats {
    const now = Date.now()
    const slot = Math.floor(now / SLOT_MS)
    let finished = 0
    for (let i = 0; i < SLOTS; i++) if (slot - this.slotOf[i]! < SLOTS) finished += this.finishedIn[i]!
    const windowMs = Math.min(THROUGHPUT_WINDOW_MS, Math.max(1, now - this.startedAt))
    const pools = Object.fromEntries(
      EXECUTORS.map((k) => [
        k,
        {
          limit: this.scheduler.limits[k],
          running: this.scheduler.activeCount(k),
          pending: this.scheduler.queuedCount(k),
          workers: this.executors[k].workers(),
        },
      ]),
    ) as Stats['pools']
    // The histogram measures each timer tick, resolution included: the delay is what exceeds it.
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - LAG_RESOLUTION_MS)
    return {
      counters: { ...this.scheduler.counters },
      pools,
      workers: EXECUTORS.flatMap((k) => this.executors[k].workerStats?.() ?? []),
      loopLag: { p50: ms(this.lag.percentile(50)), p99: ms(this.lag.percentile(99)), max: ms(this.lag.max) },
      throughput: Math.round((finished / windowMs) * 1000 * 10) / 10,
      uptimeMs: now - this.startedAt,
      shuttingDown: facade.shuttingDown,
      hostLag: null,
      runMs: this.runMs.percentiles(),
      waitMs: this.waitMs.percentiles(),
      cancelMs: this.cancelMs.percentiles(),
      paused: this.scheduler.isPaused,
      groupLimits: this.scheduler.groupLimits(),
      store: facade.store,
      queues: this.calls.queues.stats(),
      locks: this.calls.locks.stats(),
    }
  }

  /** At shutdown: no more publishing, no more lag sampling. */
  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.lag.disable()
  }
}
