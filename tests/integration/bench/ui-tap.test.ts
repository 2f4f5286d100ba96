// bench/ui/tap.ts: the relay counts what the server sends as it travels, so a WebSocket with
// permessage-deflate counts its compressed frames (DevTools would report them inflated).
import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { startTap, TAP_HOST, UPSTREAM_HOST, type Tap } from '../../../bench/ui/tap'

const BODY = 'x'.repeat(200_000)

let server: Server | null = null
let tap: Tap | null = null
afterEach(async () => {
  await tap?.close()
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r) ?? r(null))
  server = tap = null
})

/** An HTTP server on UPSTREAM_HOST:port that answers BODY and upgrades to a WebSocket sending BODY once. */
async function serve(port: number, deflate: boolean): Promise<void> {
  server = createServer((_req, res) => res.end(BODY))
  const wss = new WebSocketServer({ server, perMessageDeflate: deflate })
  wss.on('connection', (ws) => ws.send(BODY))
  await new Promise<void>((resolve) => server!.listen(port, UPSTREAM_HOST, resolve))
}

const receive = (port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${TAP_HOST}:${port}/`, { perMessageDeflate: true })
    ws.on('message', (data: Buffer) => {
      ws.close()
      resolve(data.length)
    })
    ws.on('error', reject)
  })

describe('bench/ui tap', () => {
  it('counts an HTTP response with its headers, between the times asked', async () => {
    tap = await startTap()
    await serve(tap.port, false)
    const before = Date.now()
    const res = await fetch(`http://${TAP_HOST}:${tap.port}/`)
    expect((await res.text()).length).toBe(BODY.length)
    const bytes = tap.bytes(before, Date.now())
    expect(bytes).toBeGreaterThan(BODY.length)
    expect(bytes).toBeLessThan(BODY.length + 1000)
    expect(tap.bytes(0, before - 1)).toBe(0)
    expect(tap.connections()).toBe(1)
  })

  it('counts permessage-deflate frames compressed', async () => {
    tap = await startTap()
    await serve(tap.port, true)
    expect(await receive(tap.port)).toBe(BODY.length)
    // The handshake and one compressed frame of a very repetitive text.
    expect(tap.bytes(0, Date.now())).toBeLessThan(BODY.length / 20)
  })

  it('counts plain frames in full', async () => {
    tap = await startTap()
    await serve(tap.port, false)
    expect(await receive(tap.port)).toBe(BODY.length)
    expect(tap.bytes(0, Date.now())).toBeGreaterThan(BODY.length)
  })
})
