// A loopback TCP relay in front of a server that counts the bytes the server sends to the browser,
// as they travel: HTTP headers and bodies as sent (compressed when the server compresses),
// WebSocket frames with their headers and permessage-deflate payloads. The browser's own
// accounting cannot serve here: Chromium's DevTools protocol reports WebSocket frames after
// inflating them. IP and TCP headers are not counted (the same per packet for any server).
//
// The relay listens on 127.0.0.1:PORT and forwards to 127.0.0.2:PORT (the whole 127/8 is loopback
// on Linux): the browser names 127.0.0.1:PORT in its Host and Origin headers, which a server bound
// to 127.0.0.2:PORT accepts as its own loopback name (Taskloop checks both: DNS rebinding).
import { createServer, connect, type Socket } from 'node:net'

export const TAP_HOST = '127.0.0.1'
export const UPSTREAM_HOST = '127.0.0.2'

export interface Tap {
  port: number
  /** Bytes from the server to the browser that passed the relay in [from, to] (Date.now() ms). */
  bytes(from: number, to: number): number
  /** Connections the browser opened so far. */
  connections(): number
  close(): Promise<void>
}

/** Listens on TAP_HOST:port (0: a free one) and relays every connection to UPSTREAM_HOST:port. */
export async function startTap(port = 0): Promise<Tap> {
  /** [Date.now(), bytes] per chunk the server sent. */
  const chunks: Array<[number, number]> = []
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createServer((browser) => {
    connections++
    const upstream = connect(listening, UPSTREAM_HOST)
    for (const s of [browser, upstream]) {
      sockets.add(s)
      s.setNoDelay(true)
      s.on('close', () => sockets.delete(s))
      // A reset on one side ends the other; the relay itself never fails the measurement.
      s.on('error', () => (s === browser ? upstream : browser).destroy())
    }
    upstream.on('data', (d: Buffer) => chunks.push([Date.now(), d.length]))
    browser.pipe(upstream)
    upstream.pipe(browser)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, TAP_HOST, resolve)
  })
  const address = server.address()
  const listening = typeof address === 'object' && address ? address.port : port
  return {
    port: listening,
    bytes(from, to) {
      let sum = 0
      for (const [t, n] of chunks) if (t >= from && t <= to) sum += n
      return sum
    },
    connections: () => connections,
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
