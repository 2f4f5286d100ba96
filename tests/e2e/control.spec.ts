// Issue 9 item 8 in Chromium against `taskloop serve`: bulk actions act on what is shown and ask
// before reaching beyond it; the drain panel forces a shutdown at once (a browser has no Ctrl+C).
import { expect, test } from '@playwright/test'
import { launch, row, rows, screenshot, serveEachTest } from './ui'

// A grace long past any test timeout: only Force now can end the drain in time.
const ui = serveEachTest(['--shutdown-grace-ms', '600000'])

test('with a filter on, "Cancel N shown" cancels only the shown tasks; Cancel all beyond them asks first', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 })
  await ui.open(page)
  await launch(page, { name: 'keep', job: 'sleep', params: { ms: 60_000 }, executor: 'loop', count: 2, concurrency: 2 })
  await launch(page, { name: 'drop', job: 'sleep', params: { ms: 60_000 }, executor: 'loop', count: 3, concurrency: 3 })
  await expect(rows(page).and(page.locator('[data-state="running"]'))).toHaveCount(5)
  await page.getByRole('searchbox').fill('drop')
  await expect(rows(page)).toHaveCount(3)
  await page.getByRole('button', { name: 'Cancel 3 shown' }).click()
  await expect(rows(page).and(page.locator('[data-state="cancelled"]'))).toHaveCount(3)
  await page.getByRole('searchbox').fill('')
  await expect(row(page, 'keep #1')).toHaveAttribute('data-state', 'running')
  await expect(row(page, 'keep #2')).toHaveAttribute('data-state', 'running')

  await page.getByRole('searchbox').fill('drop')
  // The filter applies on the next render: clicked before, Cancel all sees no hidden task and does not ask.
  await expect(rows(page)).toHaveCount(3)
  await page.getByRole('button', { name: 'Cancel all' }).click()
  const confirm = page.getByRole('alertdialog')
  await expect(confirm).toContainText('2 of them not shown by the filter')
  await screenshot(page, 'control-confirm-1280')
  await confirm.getByRole('button', { name: 'Cancel all' }).click()
  await expect(confirm).toHaveCount(0)
  await page.getByRole('searchbox').fill('')
  await expect(rows(page).and(page.locator('[data-state="cancelled"]'))).toHaveCount(5)
})

test('the drain panel has Force now: a shutdown with a long grace ends at once', async ({ page }) => {
  await ui.open(page)
  await launch(page, { name: 'stubborn', job: 'sleep', params: { ms: 600_000, ignoreCancel: true }, executor: 'loop', count: 1 })
  await expect(row(page, 'stubborn')).toHaveAttribute('data-state', 'running')
  await page.getByRole('button', { name: 'Quit', exact: true }).click()
  const dialog = page.getByRole('dialog', { name: /Shutting down|Forcing|Shut down/ })
  await expect(dialog).toContainText('stubborn')
  await screenshot(page, 'control-drain-force-now')
  await dialog.getByRole('button', { name: 'Force now' }).click()
  await expect(dialog).toContainText(/Forced \(1\)/, { timeout: 20_000 })
  expect(await ui.server.exited).toBe(0)
})
