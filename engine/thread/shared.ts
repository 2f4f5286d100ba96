// Memory shared by the engine thread and its supervisor (client.ts), read by the host without
// asking the thread, which may be blocked or dead: a heartbeat the thread bumps from its event
// loop, and a board of the loop tasks it runs right now (the ones that can block or end it).
const SLOTS = 1024
const SLOT_BYTES = 160
/** Int32 cells: one length per slot, then the overflow count. */
const OVERFLOW = SLOTS

export interface SharedState {
  heartbeat: SharedArrayBuffer
  /** Per slot its length in bytes (0: free), then the slots' text. */
  lengths: SharedArrayBuffer
  text: SharedArrayBuffer
}

export interface BoardEntry {
  taskId: string
  name: string
  killGraceMs: number | undefined
}

export function createShared(): SharedState {
  return {
    heartbeat: new SharedArrayBuffer(4),
    lengths: new SharedArrayBuffer(4 * (SLOTS + 1)),
    text: new SharedArrayBuffer(SLOTS * SLOT_BYTES),
  }
}

/** The engine thread's side: beats and writes. */
export class SharedWriter {
  private readonly beat: Int32Array
  private readonly lengths: Int32Array
  private readonly text: Uint8Array
  private readonly slotOf = new Map<string, number>()
  private readonly free: number[] = []
  private readonly encoder = new TextEncoder()

  constructor(shared: SharedState) {
    this.beat = new Int32Array(shared.heartbeat)
    this.lengths = new Int32Array(shared.lengths)
    this.text = new Uint8Array(shared.text)
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(i)
  }

  heartbeat(): void {
    Atomics.add(this.beat, 0, 1)
  }

  add(entry: BoardEntry): void {
    const slot = this.free.pop()
    if (slot === undefined) {
      Atomics.add(this.lengths, OVERFLOW, 1)
      return
    }
    this.slotOf.set(entry.taskId, slot)
    const line = `${entry.taskId}\n${entry.killGraceMs ?? ''}\n${entry.name}`
    const { written } = this.encoder.encodeInto(line, this.text.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES))
    Atomics.store(this.lengths, slot, written)
  }

  remove(taskId: string): void {
    const slot = this.slotOf.get(taskId)
    if (slot === undefined) {
      if (Atomics.load(this.lengths, OVERFLOW) > 0) Atomics.sub(this.lengths, OVERFLOW, 1)
      return
    }
    this.slotOf.delete(taskId)
    Atomics.store(this.lengths, slot, 0)
    this.free.push(slot)
  }
}

/** The host's side: reads what the engine thread last wrote. */
export class SharedReader {
  private readonly beat: Int32Array
  private readonly lengths: Int32Array
  private readonly text: Uint8Array
  private readonly decoder = new TextDecoder()

  constructor(shared: SharedState) {
    this.beat = new Int32Array(shared.heartbeat)
    this.lengths = new Int32Array(shared.lengths)
    this.text = new Uint8Array(shared.text)
  }

  heartbeat(): number {
    return Atomics.load(this.beat, 0)
  }

  /** The loop tasks running now, and how many more ran than the board holds. */
  loopRuns(): { entries: BoardEntry[]; unlisted: number } {
    const entries: BoardEntry[] = []
    for (let slot = 0; slot < SLOTS; slot++) {
      const n = Atomics.load(this.lengths, slot)
      if (n === 0) continue
      // Copied out first: TextDecoder does not read shared memory.
      const [taskId = '', grace = '', ...name] = this.decoder.decode(this.text.slice(slot * SLOT_BYTES, slot * SLOT_BYTES + n)).split('\n')
      entries.push({ taskId, name: name.join('\n'), killGraceMs: grace === '' ? undefined : Number(grace) })
    }
    return { entries, unlisted: Atomics.load(this.lengths, OVERFLOW) }
  }
}
