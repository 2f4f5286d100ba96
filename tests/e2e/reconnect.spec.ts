// An open tab across a restart of `taskloop serve` on the same data folder and port (Debian's
// Chromium, the real server twice): with the same login it reconnects by itself and stays live;
// after a restart with another token it says what to do, and comes back once the new URL is opened.
import { expect, test, type Page } from '@playwright/test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startServer, type ServerProcess } from './server'
import { launch, row } from './ui'

/* eslint-disable-next-line @typescript-eslint/no-explicit-any */
declare const window: any

let dataDir: string
let port: number
const servers: ServerProcess[] = []

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

async function serve(extra: string[] = []): Promise<ServerProcess> {
  const server = await startServer(['--port', String(port), '--data-dir', dataDir, '--shutdown-grace-ms', '1000', ...extra], {
    auth: true,
  })
  servers.push(server)
  return server
}

test.beforeEach(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-e2e-reconnect-'))
  port = await freePort()
})
test.afterEach(async () => {
  for (const server of servers.splice(0)) {
    const code = await server.stop()
    if (test.info().status !== test.info().expectedStatus) console.log(`taskloop serve (exit ${code}):\n${server.output()}`)
  }
  rmSync(dataDir, { recursive: true, force: true })
})

/** A mark on the page's window: still there later means the tab never navigated or reloaded. */
const mark = (page: Page) => page.evaluate(() => (window.__sameTab = true))
const sameTab = (page: Page) => page.evaluate(() => window.__sameTab === true)

test('an open tab reconnects to a restarted server of the same folder and stays live', async ({ page }) => {
  const first = await serve()
  await page.goto(first.url)
  await expect(page.getByRole('button', { name: 'Launch' })).toBeVisible({ timeout: 20_000 })
  await mark(page)
  await launch(page, { name: 'before', job: 'sleep', params: { ms: 50 }, count: 1 })
  await expect(row(page, 'before')).toHaveAttribute('data-state', 'done', { timeout: 20_000 })

  await first.stop()
  // The tab notices the silence, then the same URL, token and cookie serve it again.
  await expect(page.getByText('No word from the engine; reconnecting…')).toBeVisible({ timeout: 20_000 })
  const second = await serve()
  expect(second.url).toBe(first.url)
  await expect(page.getByText('No word from the engine; reconnecting…')).toBeHidden({ timeout: 30_000 })
  expect(await sameTab(page)).toBe(true)
  await expect(row(page, 'before')).toHaveAttribute('data-state', 'done')
  await expect(page.getByText('The server restarted with a new login')).toBeHidden()

  await launch(page, { name: 'after', job: 'sleep', params: { ms: 60_000 }, count: 1 })
  await expect(row(page, 'after')).toHaveAttribute('data-state', 'running', { timeout: 20_000 })
  await row(page, 'after').getByRole('button', { name: 'Cancel after' }).click()
  await expect(row(page, 'after')).toHaveAttribute('data-state', 'cancelled', { timeout: 20_000 })
  expect(await sameTab(page)).toBe(true)
})

test('after a restart with another token the tab says what to do, and recovers once the new URL is opened', async ({ page, context }) => {
  const first = await serve()
  await page.goto(first.url)
  await expect(page.getByRole('button', { name: 'Launch' })).toBeVisible({ timeout: 20_000 })
  await mark(page)
  await first.stop()
  const second = await serve(['--token', 'a-new-token-after-the-restart-0123456789'])
  expect(second.url).not.toBe(first.url)
  await expect(page.getByRole('alert').filter({ hasText: 'The server restarted with a new login: open the URL printed by taskloop serve' })).toBeVisible({
    timeout: 30_000,
  })

  // Opening the new URL in another tab sets the cookie this one needs: it reconnects by itself.
  const other = await context.newPage()
  await other.goto(second.url)
  await expect(other.getByRole('button', { name: 'Launch' })).toBeVisible({ timeout: 20_000 })
  await expect(page.getByText('The server restarted with a new login')).toBeHidden({ timeout: 30_000 })
  expect(await sameTab(page)).toBe(true)
  await launch(page, { name: 'relogged', job: 'sleep', params: { ms: 50 }, count: 1 })
  await expect(row(page, 'relogged')).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
})
