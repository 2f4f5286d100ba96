// 8. Messages through ctx.queue between a producer and a consumer on two pool threads (each put
// and get a call to the engine and back), against a bare MessageChannel between two workers in
// the same run (the producer streams, the consumer counts): the cost of a brokered queue.
import { MessageChannel, Worker } from 'node:worker_threads'
import { Engine } from '../../engine/engine'
import { EngineProbe, job, measure, throughputRows, type Contender, type Scenario } from '../harness'

const taskloopQueue: Contender = {
  name: 'Taskloop ctx.queue, thread → thread',
  async open() {
    const engine = new Engine({ limits: { thread: 2 }, keepInMemory: Infinity })
    await engine.warm()
    const probe = new EngineProbe(engine)
    let finals = 0
    let round = 0
    const run = async (n: number): Promise<void> => {
      const queue = `bench-${++round}`
      await engine.submit({
        batch: {
          tasks: [
            { job: job('queueConsume'), executor: 'thread', params: { queue, n } },
            { job: job('queueProduce'), executor: 'thread', params: { queue, n } },
          ],
        },
      })
      finals += 2
      await probe.until(finals)
    }
    await run(100)
    return {
      run,
      async close() {
        probe.unsubscribe()
        await engine.shutdown()
      },
    }
  },
}

const PRODUCER = `
const { parentPort } = require('node:worker_threads')
let port
parentPort.on('message', (m) => {
  if (m.port) return (port = m.port)
  for (let i = 0; i < m.n; i++) port.postMessage(i)
})`
const CONSUMER = `
const { parentPort } = require('node:worker_threads')
let want = 0, got = 0, sum = 0
parentPort.on('message', (m) => {
  if (m.port) return m.port.on('message', (i) => { sum += i; if (++got === want) parentPort.postMessage(sum) })
  want = m.n; got = 0; sum = 0
})`

const messageChannel: Contender = {
  name: 'MessageChannel between two workers',
  async open() {
    const producer = new Worker(PRODUCER, { eval: true })
    const consumer = new Worker(CONSUMER, { eval: true })
    const { port1, port2 } = new MessageChannel()
    producer.postMessage({ port: port1 }, [port1])
    consumer.postMessage({ port: port2 }, [port2])
    await Promise.all([producer, consumer].map((w) => new Promise((r) => w.once('online', r))))
    const run = async (n: number): Promise<void> => {
      const done = new Promise((r) => consumer.once('message', r))
      consumer.postMessage({ n })
      producer.postMessage({ n })
      await done
    }
    await run(100)
    return { run, close: async () => void (await Promise.all([producer.terminate(), consumer.terminate()])) }
  },
}

export const queue: Scenario = {
  name: 'queue',
  title: '8. ctx.queue, producer → consumer on threads, 20k messages',
  async run(cfg) {
    const n = cfg.scale(20_000)
    const times = await measure([taskloopQueue, messageChannel], n, Math.ceil(n / 10), Math.min(cfg.runs, 3))
    // A reference, no goal: every brokered message is two round trips through the engine thread.
    return throughputRows(this.title, n, times, 'MessageChannel between two workers', { text: '', ratio: 0, applies: () => false })
  },
}
