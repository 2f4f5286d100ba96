// The browser UI on the compact events (common/wire.ts), in Chromium against the real headless
// server: the socket negotiates the compact subprotocol and permessage-deflate, a snapshot larger
// than its first page fills the whole table, the table stays live, and the detail shows the result
// and the error stack the stream leaves out (fetched with `get`).
import { expect, test } from '@playwright/test'
import type { SubmitSpec } from '../../common/types'
import { COMPACT_PROTOCOL, FIRST_PAGE } from '../../common/wire'
import { row, serveEachTest } from './ui'

const ui = serveEachTest()

async function submit(spec: SubmitSpec): Promise<string[]> {
  const res = await fetch(new URL('/api/tasks', ui.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { ids: string[] }).ids
}

test('compact events with deflate: a paged snapshot fills the table, rows stay live, the detail fetches result and stack', async ({ page }) => {
  const listed = FIRST_PAGE + 150
  await submit({ batch: { name: 'before', tasks: Array.from({ length: listed }, (_, i) => ({ name: `early ${i}`, job: 'sleep', params: { ms: 0 } })) } })

  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  const handshake = new Promise<Record<string, string>>((resolve) =>
    cdp.on('Network.webSocketHandshakeResponseReceived', (e: { response: { headers: Record<string, string> } }) => resolve(e.response.headers)),
  )
  await page.goto(ui.server.url)
  const headers = Object.fromEntries(Object.entries(await handshake).map(([k, v]) => [k.toLowerCase(), v]))
  expect(headers['sec-websocket-protocol']).toBe(COMPACT_PROTOCOL)
  expect(headers['sec-websocket-extensions']).toContain('permessage-deflate')

  // Every task of the snapshot, not only its first page.
  await expect(page.getByRole('heading', { name: new RegExp(`Tasks \\(${listed}\\)`) })).toBeVisible()
  await expect(page.getByLabel('done count', { exact: true })).toHaveText(String(listed))

  // Live: new tasks change state in the open table.
  await submit({ name: 'answer', job: 'ticker', params: { steps: 3, intervalMs: 50 } })
  await submit({ name: 'broken', job: 'fail', params: { message: 'disk on fire', afterMs: 10 } })
  await expect(row(page, 'answer')).toHaveAttribute('data-state', 'done')
  await expect(row(page, 'broken')).toHaveAttribute('data-state', 'failed')
  await expect(page.getByLabel('done count', { exact: true })).toHaveText(String(listed + 1))

  await row(page, 'answer').getByRole('button', { name: 'answer', exact: true }).click()
  const answer = page.getByRole('region', { name: 'answer' })
  await expect(answer.locator('pre.result')).toContainText('"steps": 3')
  await page.keyboard.press('Escape')
  await row(page, 'broken').getByRole('button', { name: 'broken', exact: true }).click()
  const broken = page.getByRole('region', { name: 'broken' })
  await expect(broken).toContainText('disk on fire')
  await broken.getByText('Stack').click()
  await expect(broken.locator('.stack pre')).toContainText('disk on fire')
})
