// Issue 9 item 11 in Chromium against the real headless server: a batch launched with a group, a
// member's detail showing its batch (progress, what settled it, the gathered results), a group
// limit set from the UI and taken by the engine, and a done task run again, linked both ways.
import { expect, test } from '@playwright/test'
import type { Stats } from '../../common/types'
import { launch, row, serveEachTest } from './ui'

const ui = serveEachTest()

test('a batch member shows its batch; a group limit set in the UI reaches the engine; a done task runs again', async ({ page }) => {
  await ui.open(page)
  await page.locator('input[name="group"]').fill('g1')
  await launch(page, { name: 'gath', count: 3, concurrency: 2, job: 'sleep', params: { ms: 50 } })
  for (const n of [1, 2, 3]) await expect(row(page, `gath #${n}`)).toHaveAttribute('data-state', 'done', { timeout: 30_000 })

  await row(page, 'gath #2').getByRole('button', { name: 'gath #2', exact: true }).click()
  const detail = page.getByRole('region', { name: 'gath #2' })
  const section = detail.locator('[data-batch]')
  await expect(section.locator('[data-batch-name]')).toHaveText('3 × gath')
  await expect(section.locator('[data-batch-progress]')).toHaveText('3/3 finished')
  await expect(section.locator('[data-batch-settled]')).toHaveText('settled by all')
  await section.getByText('Gathered results').click()
  const results = JSON.parse((await section.locator('[data-batch-results]').textContent())!) as unknown[]
  expect(results).toHaveLength(3)
  expect(results.every((r) => r !== null && typeof r === 'object' && !('error' in r))).toBe(true)

  // The group limit, from the UI to the engine.
  await page.locator('input[name="new-group"]').fill('g1')
  await page.locator('input[name="new-group-limit"]').fill('2')
  await page.getByRole('button', { name: 'Set group limit' }).click()
  await expect(page.locator('[data-group-status]')).toHaveText('g1: set to 2')
  await expect(page.locator('input[name="group-limit-g1"]')).toHaveValue('2')
  const stats = (await fetch(new URL('/api/stats', ui.server.url)).then((r) => r.json())) as Stats
  expect(stats.groupLimits).toEqual({ g1: 2 })

  // Run again: a new task linked to this one, numbered on from its attempt.
  await detail.getByRole('button', { name: 'Run again gath #2' }).click()
  await expect(detail.locator('[data-link="retried-as"]')).toContainText('gath #2')
  await detail.locator('[data-link="retried-as"]').click()
  const again = page.locator('section.detail')
  await expect(again.locator('[data-link="retry-of"]')).toContainText('gath #2')
  await expect(again.locator('[data-link="retried-as"]')).toHaveCount(0)
})
