// Bull Board as the comparison's peer, in its own process like `taskloop serve`: a BullMQ queue
// with the load's jobs, one Worker running `concurrency` of them at a time (each sleeps its
// duration), and Bull Board (@bull-board/api with its Express adapter, defaults: polls every 5 s,
// 10 jobs per page) served over HTTP on --host:--port. Prints `Bull Board: URL` once the jobs
// are queued and the worker runs; SIGTERM stops it.
//
//   node --import ./tests/helpers/ts-entry-register.mjs bench/ui/bull-board-server.ts \
//     --redis redis://127.0.0.1:6379 --load '{"jobs":1000,...}' --host 127.0.0.1 --port 0
import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { ExpressAdapter } from '@bull-board/express'
import { Queue, Worker } from 'bullmq'
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { BULL_QUEUE, durations, FULL_LOAD, type Load } from './load'

const { values } = parseArgs({
  options: {
    redis: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    /** A Load (load.ts) as JSON; the full one when absent. */
    load: { type: 'string' },
  },
})
if (!values.redis) throw new Error('--redis URL is required')
const redis = new URL(values.redis)
const connection = { host: redis.hostname, port: Number(redis.port) }
const load: Load = values.load ? (JSON.parse(values.load) as Load) : FULL_LOAD

const queue = new Queue(BULL_QUEUE, { connection })
const all = durations(load)
for (let i = 0; i < all.length; i += 1000) {
  await queue.addBulk(all.slice(i, i + 1000).map((ms, j) => ({ name: `sleep ${i + j}`, data: { ms } })))
}

const serverAdapter = new ExpressAdapter()
serverAdapter.setBasePath('/')
createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter })
// getRouter() is the Express app the adapter built; it is the whole HTTP handler here.
const server = createServer(serverAdapter.getRouter())
await new Promise<void>((resolve) => server.listen(Number(values.port), values.host, resolve))
const address = server.address()
const port = typeof address === 'object' && address ? address.port : 0

const worker = new Worker(
  BULL_QUEUE,
  async (job) => {
    await sleep((job.data as { ms: number }).ms)
  },
  { connection, concurrency: load.concurrency },
)
await worker.waitUntilReady()
process.stdout.write(`Bull Board: http://${values.host}:${port}/\n`)

process.once('SIGTERM', () => {
  // Forced: the jobs still running are not waited for (the measurement is over).
  void Promise.allSettled([worker.close(true), queue.close(), new Promise((r) => server.close(r))]).then(() => process.exit(0))
  server.closeAllConnections()
})
