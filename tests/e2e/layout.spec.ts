// Issue 9 item 9 in Chromium against `taskloop serve`: at 1280×720 every column, the row actions and
// the concurrency controls are reachable without scrolling sideways; with a detail open, the name
// keeps room to be read; the History tab scrolls inside itself, keeping the header and sidebar in
// place. Screenshots at both sizes, light and dark.
import { expect, test, type Page } from '@playwright/test'
import { launch, row, screenshot, serveEachTest } from './ui'

const ui = serveEachTest()

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any
/* eslint-enable @typescript-eslint/no-explicit-any */

const inViewport = async (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((els: Array<{ getBoundingClientRect(): { left: number; right: number } }>) =>
    els.map((e) => {
      const r = e.getBoundingClientRect()
      return r.left >= 0 && r.right <= 1280
    }),
  )

test('at 1280×720 the columns, row actions and concurrency controls fit; History keeps the header in place', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 })
  await ui.open(page)
  await launch(page, { name: 'done soon', job: 'sleep', params: { ms: 10 }, executor: 'loop', count: 150, concurrency: 50 })
  await expect(row(page, 'done soon #150')).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  await launch(page, { name: 'a task with a rather long name to see what the column does', job: 'sleep', params: { ms: 60_000 }, executor: 'loop', count: 2, concurrency: 2 })

  // No sideways scrolling: the table is no wider than its scroller, the page no wider than the window.
  const widths = await page.evaluate(() => {
    const s = document.querySelector('.table-scroll')
    return { scroll: s.scrollWidth, client: s.clientWidth, page: document.documentElement.scrollWidth }
  })
  expect(widths.scroll).toBeLessThanOrEqual(widths.client)
  expect(widths.page).toBeLessThanOrEqual(1280)
  expect(await inViewport(page, '.tasks th')).not.toContain(false)
  const cancel = row(page, 'a task with a rather long name to see what the column does #1').getByRole('button', { name: /^Cancel / })
  await expect(cancel).toBeInViewport()
  for (const executor of ['loop', 'thread', 'process', 'command']) {
    const field = page.getByRole('spinbutton', { name: `${executor} concurrency` })
    await field.scrollIntoViewIfNeeded()
    await expect(field).toBeInViewport()
  }
  expect(await inViewport(page, '.limits input')).not.toContain(false)
  // Headers are not clipped: each header's text fits its cell.
  const clipped = await page.locator('.tasks th button.sort').evaluateAll((els: Array<{ scrollWidth: number; clientWidth: number; textContent: string }>) =>
    els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent),
  )
  expect(clipped).toEqual([])
  await screenshot(page, 'layout-1280-light')
  await page.emulateMedia({ colorScheme: 'dark' })
  await screenshot(page, 'layout-1280-dark')

  // With a detail open the row actions stay pinned in view, and the name keeps room to be read:
  // the worker and attempt columns give way (the detail shows both), and come back when it closes.
  await row(page, 'a task with a rather long name to see what the column does #1').getByRole('button', { name: /^a task with/ }).click()
  await expect(cancel).toBeInViewport()
  await expect(page.locator('.tasks th.worker')).toBeHidden()
  await expect(page.locator('.tasks th.attempt')).toBeHidden()
  const nameWidth = await page.locator('.tasks th.name').evaluate((e: { getBoundingClientRect(): { width: number } }) => e.getBoundingClientRect().width)
  expect(nameWidth).toBeGreaterThanOrEqual(120)
  await screenshot(page, 'layout-1280-detail-dark')
  await page.keyboard.press('Escape')
  await expect(page.locator('.tasks th.worker')).toBeVisible()
  await expect(page.locator('.tasks th.attempt')).toBeVisible()

  await page.getByRole('tab', { name: 'History' }).click()
  await expect(page.locator('[data-history-id]').first()).toBeVisible()
  await page.locator('.history').hover()
  await page.mouse.wheel(0, 3000)
  await expect.poll(() => page.locator('.history').evaluate((e: { scrollTop: number }) => e.scrollTop)).toBeGreaterThan(0)
  expect(await page.evaluate(() => document.scrollingElement.scrollTop)).toBe(0)
  await expect(page.getByRole('heading', { name: 'Taskloop' })).toBeInViewport()
  await expect(page.getByRole('heading', { name: 'Concurrency' })).toBeInViewport()
  await screenshot(page, 'layout-1280-history-dark')
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 1400, height: 900 })
  await page.getByRole('tab', { name: 'Tasks' }).click()
  await screenshot(page, 'layout-1400-light')
  await page.emulateMedia({ colorScheme: 'dark' })
  await screenshot(page, 'layout-1400-dark')
  await page.getByRole('button', { name: /^Cancel all|^Cancel \d+ shown/ }).first().click()
})
