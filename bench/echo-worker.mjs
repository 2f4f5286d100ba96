// The ceiling for scenario 1: a bare worker answering each message with the same tiny work,
// no pool, no protocol, no bookkeeping.
import { parentPort } from 'node:worker_threads'
import { tiny } from './jobs.mjs'

parentPort.on('message', (m) => parentPort.postMessage(tiny(m)))
