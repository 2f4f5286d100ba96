// A pool thread's reports held in shared memory, for the engine thread to read when it looks.
// A message to the engine thread wakes it (and, on a machine with few cores, takes a core from a
// worker for that turn): a thread running a stream of millisecond jobs writes its reports here
// instead and rings (posts a small message) every few ms, or leaves them to the engine thread's
// regular read. The engine thread reads the ring itself when it is rung, when a worker is lost,
// before a cancel or a kill, and every WATCH_MS (protocol.ts) while a worker has runs out:
// whatever a job does (one that never yields), no report stays here long, and none is lost with
// a worker that dies.
//
// One writer (the worker), one reader (the engine thread): two byte counters in an Int32Array
// that only grow (wrapping at 2^32), the text between them. The writer appends JSON texts of
// reports, each `,{...},{...}` (a comma before each report), so whatever was written since the
// last read is one JSON array once bracketed: one decode and one parse per read, not per record.
// A write is published by the store of the write counter, after its bytes: a reader never sees
// half of one, even from a worker terminated mid-write.

/** Bytes a ring holds: a power of two (positions are counters masked to it). */
export const RING_BYTES = 1 << 16

const WRITTEN = 0
const READ = 1
const HEADER_BYTES = 8

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class ReportRing {
  private readonly counters: Int32Array
  private readonly bytes: Uint8Array
  private readonly mask: number
  /**
   * This side's bytes outside shared memory (a write's encoding, a read's copy: TextDecoder takes
   * no view of shared memory), made once: a typed array per write or read, each with a backing
   * store of its own, cost the GC's helper threads more than the messages saved.
   */
  private scratch: Uint8Array | null = null

  constructor(readonly buffer: SharedArrayBuffer) {
    this.counters = new Int32Array(buffer, 0, 2)
    this.bytes = new Uint8Array(buffer, HEADER_BYTES)
    this.mask = this.bytes.length - 1
  }

  static create(bytes = RING_BYTES): ReportRing {
    return new ReportRing(new SharedArrayBuffer(HEADER_BYTES + bytes))
  }

  /** The write counter: everything written so far ends here (what a ring message names). */
  get written(): number {
    return Atomics.load(this.counters, WRITTEN)
  }

  /** The read counter: everything up to it has been read. */
  get readCount(): number {
    return Atomics.load(this.counters, READ)
  }

  /** Writer: appends `text`; false when it does not fit now (the caller posts it instead). */
  write(text: string): boolean {
    const scratch = (this.scratch ??= new Uint8Array(this.bytes.length))
    const { read, written } = encoder.encodeInto(text, scratch)
    if (read < text.length) return false
    const data = scratch.subarray(0, written)
    const w = Atomics.load(this.counters, WRITTEN)
    const used = (w - Atomics.load(this.counters, READ)) | 0
    if (data.length > this.bytes.length - used) return false
    const i = w & this.mask
    const first = Math.min(data.length, this.bytes.length - i)
    this.bytes.set(first === data.length ? data : data.subarray(0, first), i)
    if (first < data.length) this.bytes.set(data.subarray(first), 0)
    Atomics.store(this.counters, WRITTEN, (w + data.length) | 0)
    return true
  }

  /** Reader: the text written up to counter `upTo` (default: all of it) not read yet; '' when none. */
  read(upTo = this.written): string {
    const r = Atomics.load(this.counters, READ)
    const n = (upTo - r) | 0
    // Already read past it (the regular read took what a ring message names before it came).
    if (n <= 0) return ''
    const out = (this.scratch ??= new Uint8Array(this.bytes.length)).subarray(0, n)
    const i = r & this.mask
    const first = Math.min(n, this.bytes.length - i)
    out.set(this.bytes.subarray(i, i + first), 0)
    if (first < n) out.set(this.bytes.subarray(0, n - first), first)
    Atomics.store(this.counters, READ, upTo)
    return decoder.decode(out)
  }
}
