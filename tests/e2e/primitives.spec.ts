// The primitives' presets in Chromium against the real headless server: producer/consumer through
// ctx.queue (process → thread) pipelined in about 6 s with its queue in the Metrics view, the
// shared counter with ctx.lock reaching 55, and a fan-out whose children link back to their parent.
import { expect, test } from '@playwright/test'
import type { TaskSnapshot } from '../../common/types'
import { row, serveEachTest } from './ui'

const ui = serveEachTest(['--shutdown-grace-ms', '3000'])

const taskOf = async (id: string): Promise<TaskSnapshot> =>
  (await fetch(new URL(`/api/tasks/${id}`, ui.server.url)).then((r) => r.json())) as TaskSnapshot

test('producer/consumer, shared counter with a lock, fan-out: the presets run to the end', async ({ page }) => {
  await ui.open(page)
  const preset = (name: RegExp) => page.getByRole('button', { name })
  await preset(/^producer \/ consumer/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 2 tasks' })).toBeVisible()

  // The queue shows while items flow.
  await page.getByRole('tab', { name: 'Metrics' }).click()
  await expect(page.getByRole('table', { name: 'Queues' }).locator('[data-queue="items"]')).toBeVisible({ timeout: 15_000 })
  await page.getByRole('tab', { name: 'Tasks' }).click()

  await preset(/^shared counter with a lock/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 12 tasks' })).toBeVisible()
  await preset(/^fan-out/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 1 task' })).toBeVisible()

  for (const name of ['producer', 'consumer', 'read', 'fan-out']) {
    await expect(row(page, name)).toHaveAttribute('data-state', 'done', { timeout: 30_000 })
  }
  const [producer, consumer, read] = await Promise.all(
    ['producer', 'consumer', 'read'].map(async (n) => taskOf((await row(page, n).getAttribute('data-task-id'))!)),
  )
  expect(consumer!.result).toEqual({ consumed: [1, 2, 3, 4, 5] })
  const wall = Math.max(producer!.endedAt!, consumer!.endedAt!) - Math.min(producer!.startedAt!, consumer!.startedAt!)
  expect(wall).toBeLessThan(8500)
  expect(read!.result).toEqual({ value: 55 })

  // The fan-out's children name it as their parent, and its detail lists them.
  await row(page, 'fan-out').getByRole('button', { name: 'fan-out', exact: true }).click()
  const detail = page.getByRole('region', { name: 'fan-out' })
  await expect(detail.locator('[data-link="child"]')).toHaveCount(5)
  await detail.locator('[data-link="child"]').first().click()
  await expect(page.getByRole('region', { name: 'child 1' }).locator('[data-link="parent"]')).toContainText('fan-out')
})
