// The History view against the real headless server: pages from the task store, exports as CSV.
import { readFileSync } from 'node:fs'
import { expect, test } from '@playwright/test'
import { launch, screenshot, serveEachTest } from './ui'

const ui = serveEachTest()

test('history pages the store and exports the selection as CSV', async ({ page }) => {
  await ui.open(page)
  await launch(page, { name: 'hist', count: 60, concurrency: 20, job: 'sleep', params: { ms: 5 }, executor: 'loop' })
  await expect(page.getByLabel('done count', { exact: true })).toHaveText('60')
  await page.getByRole('tab', { name: 'History' }).click()
  const rows = page.locator('tbody tr[data-history-id]')
  await expect(rows).toHaveCount(50)
  await page.getByRole('button', { name: 'Older' }).click()
  await expect(rows).toHaveCount(10)
  await expect(page.getByText('page 2')).toBeVisible()
  await page.getByRole('checkbox', { name: 'Select hist #1', exact: true }).check()
  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Export 1 selected as CSV' }).click()
  const file = await (await download).path()
  const csv = readFileSync(file!, 'utf8').trim().split('\r\n')
  expect(csv).toHaveLength(2)
  expect(csv[0]!.startsWith('id,name,executor,state')).toBe(true)
  expect(csv[1]).toContain(',hist #1,loop,done,')
  await screenshot(page, 'history')
})
