// How an event batch crosses from the engine thread to the host (docs/ARCHITECTURE.md, "A job's life",
// step 10). Its tasks go as one JSON text of deltas, which the host turns back into whole
// TaskSnapshots: a batch of 20k tasks was megabytes of JSON to write, post and parse, most of it the
// same fields again (a spec, a batch id, a name); deltas are a third of it. Each end keeps the same
// small state, fed by the same batches in the same order (postMessage keeps it), so both always
// agree on what a delta is against:
//   - A task goes against the task before it in the same batch (none for the first): tasks changed
//     together are alike (a submit's pending tasks, a run of done ones), so it carries only the
//     top-level fields that are not the very same value (===) as that task's.
//   - A task the host holds already (a non-final one of an earlier batch: both ends track which,
//     `live`) leaves out its fields FIXED at creation too: the host puts back the ones it holds.
// Compared by identity, not by content: cheap on the engine thread, never wrong (a field that did not
// change but is a new object travels again). The host's objects share values with the task before
// them and with their own earlier version, so the WebSocket's encoder (common/wire.ts) finds most
// fields unchanged by identity too; and each batch keeps its entries (batchEntries), from which that
// encoder takes what changed in a task whose base it shares, without comparing every field. Pure functions of the batches: the engine thread's restart
// starts both ends over (a new packer and unpacker).
//   - `attempts` goes as OWN_ATTEMPT (common/wire.ts) when it lists only the current attempt, which
//     the host makes again from the task's own fields: the one nested object of nearly every task,
//     a new one in each of its snapshots, else written, posted and parsed each time the task changes.
import type { EventBatch, TaskSnapshot } from '../../common/types'
import { isFinal } from '../../common/types'
import { attemptsForm, batchEntries, copyFixed, copyTask, FIXED_FIELDS, OWN_ATTEMPT, ownAttempts } from '../../common/wire'
import type { TaskEntry } from '../../common/wire'

export { FIXED_FIELDS }
export type { TaskEntry }

/** The JSON text's content: the batch without its tasks (and without what goes by structured clone), plus its entries. */
export interface PackedBatch {
  seq: number
  counters: EventBatch['counters']
  notice?: string
  t: TaskEntry[]
}

type Fields = Record<string, unknown>

/** The entry being made (EventPacker.pack). */
const scratch: TaskEntry = []

/** The engine thread's end. */
export class EventPacker {
  /** Tasks the host holds: posted in a state that was not final. */
  private readonly live = new Set<string>()

  /** The batch's tasks and counters as JSON text (its limits, shutdown status and stats are not in it). */
  pack(batch: EventBatch): string {
    const { tasks } = batch
    const t = new Array<TaskEntry>(tasks.length)
    let base: Fields | undefined
    /** The base's fields (not undefined, id included), and how many of them are FIXED_FIELDS. */
    let baseFields = 0
    let baseFixed = 0
    /** The base's `attempts` as sent (attemptsForm). */
    let baseAttempts: unknown
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]! as unknown as Fields
      const id = task.id as string
      const held = this.live.has(id)
      // Made in `scratch`, then copied at its length: a new array grown by push took ~170 B for the
      // few fields most entries have.
      const entry = scratch
      entry.length = 0
      entry.push(id)
      let fields = 0
      let fixed = 0
      /** The base's fields this task has too (fixed ones left out when held: they are not compared). */
      let shared = 0
      const attempts = attemptsForm(task)
      for (const key in task) {
        let value = task[key]
        // JSON leaves an undefined field out: absent, as in the text of the whole task.
        if (value === undefined) continue
        fields++
        const isFixed = FIXED_FIELDS.has(key)
        if (isFixed) fixed++
        if (key === 'id' || (held && isFixed)) continue
        // Compared as sent: the same list object may be the current attempt of one task and not of another.
        const isAttempts = key === 'attempts'
        if (isAttempts) value = attempts
        if (base !== undefined) {
          const was = isAttempts ? baseAttempts : base[key]
          if (was !== undefined) shared++
          if (was === value) continue
        }
        entry.push(key, value)
      }
      // Fields the base has and this task has not: only when it has fewer in common than the base has.
      if (base !== undefined && shared < baseFields - 1 - (held ? baseFixed : 0)) {
        let removed: string[] | undefined
        for (const key in base) {
          if (base[key] !== undefined && task[key] === undefined && !(held && FIXED_FIELDS.has(key))) (removed ??= []).push(key)
        }
        if (removed) entry.push(removed)
      }
      t[i] = entry.slice()
      entry.length = 0
      base = task
      baseAttempts = attempts
      baseFields = fields
      baseFixed = fixed
      if (isFinal(task.state as TaskSnapshot['state'])) this.live.delete(id)
      else this.live.add(id)
    }
    const packed: PackedBatch = { seq: batch.seq, counters: batch.counters, t }
    if (batch.notice !== undefined) packed.notice = batch.notice
    return JSON.stringify(packed)
  }
}

/** The host's end: the same batches back, each task a whole TaskSnapshot (a new object per change). */
export class EventUnpacker {
  /** The latest version of each task the engine thread counts as held (`live` there). */
  private readonly live = new Map<string, Fields>()

  unpack(text: string): EventBatch {
    const packed = JSON.parse(text) as PackedBatch
    const entries = packed.t
    const tasks = new Array<TaskSnapshot>(entries.length)
    /** Where each task's FIXED_FIELDS came from (batchEntries). */
    const heldList = new Array<TaskSnapshot | undefined>(entries.length)
    let base: Fields | undefined
    /** The base's `attempts` as it was sent (see attemptsForm). */
    let baseAttempts: unknown
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      const id = entry[0] as string
      const held = this.live.get(id)
      heldList[i] = held as TaskSnapshot | undefined
      // The base's fields (its id first, so the key order stays the engine's), then what differs.
      let task: Fields
      if (base !== undefined) {
        task = copyTask(base, id)
        if (held !== undefined) copyFixed(task, held)
      } else if (held !== undefined) {
        // First in the batch: its held version, whose key order is the engine's; the entry has every
        // other field it has now, so the held ones it lacks are gone.
        task = copyTask(held, id)
        const now = new Set<unknown>()
        for (let j = 1; j < entry.length - 1; j += 2) now.add(entry[j])
        for (const key in held) if (key !== 'id' && !FIXED_FIELDS.has(key) && !now.has(key)) delete task[key]
      } else task = { id }
      let attempts = base !== undefined ? baseAttempts : undefined
      const pairs = entry.length % 2 === 1 ? entry.length : entry.length - 1
      for (let j = 1; j < pairs; j += 2) {
        const key = entry[j] as string
        if (key === 'attempts') attempts = entry[j + 1]
        task[key] = entry[j + 1]
      }
      if (pairs < entry.length) for (const key of entry[pairs] as string[]) delete task[key]
      if (task.attempts === undefined) attempts = undefined
      else if (attempts === OWN_ATTEMPT) task.attempts = ownAttempts(task as unknown as TaskSnapshot)
      tasks[i] = task as unknown as TaskSnapshot
      base = task
      baseAttempts = attempts
      if (isFinal(task.state as TaskSnapshot['state'])) this.live.delete(id)
      else this.live.set(id, task)
    }
    const batch: EventBatch = { type: 'batch', seq: packed.seq, tasks, counters: packed.counters }
    if (packed.notice !== undefined) batch.notice = packed.notice
    // For the compact sessions: what changed in each task is in its entry (common/wire.ts BatchEntries).
    batchEntries.set(batch, { tasks: tasks.slice(), entries, held: heldList })
    return batch
  }
}
