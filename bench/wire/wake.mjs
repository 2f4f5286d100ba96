// What a postMessage costs the thread that posts it, by the state of the thread it goes to: asleep
// in its event loop (as the host is between the engine thread's event batches), or busy (its loop
// takes the message when it is done). The sender's CPU from /proc/thread-self/schedstat (ns), around
// the postMessage alone. On the 2-core bench VM at load 4-9, most rounds: ~280-460 µs asleep (some
// ~35-100), ~0-80 µs busy: the cost of waking a thread there. So each event batch, report or call
// that wakes a sleeping thread costs its sender about that, beside what the woken thread pays itself
// (a timer's wake-up: ~65-90 µs of the woken thread's CPU there).
//
//   node bench/wire/wake.mjs [posts]   (Linux)
import { readFileSync } from 'node:fs'
import { isMainThread, parentPort, Worker } from 'node:worker_threads'

const cpuUs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e3
const POSTS = Number(process.argv[2] ?? 30)

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url), { argv: [String(POSTS)] })
  worker.on('message', (m) => {
    if (m.done) {
      console.log(m.done)
      void worker.terminate()
    } else if (m.busy) {
      // Busy for 30 ms: the sender's next message finds this loop running.
      const end = performance.now() + 30
      while (performance.now() < end);
    }
  })
} else {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  const lines = []
  for (const state of ['asleep', 'busy', 'asleep', 'busy']) {
    let sum = 0
    for (let i = 0; i < POSTS; i++) {
      if (state === 'busy') {
        parentPort.postMessage({ busy: true })
        await sleep(5)
      } else await sleep(20)
      const t0 = cpuUs()
      parentPort.postMessage({ type: 'batch', text: 'x'.repeat(1000) + i })
      sum += cpuUs() - t0
      if (state === 'busy') await sleep(30)
    }
    lines.push(`receiver ${state}: ${(sum / POSTS).toFixed(1)} µs of the sender's CPU per postMessage`)
  }
  parentPort.postMessage({ done: lines.join('\n') })
}
