// The presets of the concurrency primitives run to the end in Chromium against the
// real headless server: as_completed, FIRST_COMPLETED, wait with a timeout, a done callback.
import { expect, test } from '@playwright/test'
import type { BatchSnapshot } from '../../common/types'
import { row, serveEachTest } from './ui'

const ui = serveEachTest(['--shutdown-grace-ms', '3000'])

async function batchOf(taskId: string): Promise<BatchSnapshot> {
  const task = (await (await fetch(new URL(`/api/tasks/${taskId}`, ui.server.url))).json()) as { batchId: string }
  return (await (await fetch(new URL(`/api/batches/${task.batchId}?waitMs=30000`, ui.server.url))).json()) as BatchSnapshot
}

test('presets run to the end: as_completed, FIRST_COMPLETED, wait with a timeout, a done callback', async ({ page }) => {
  await ui.open(page)
  const preset = (name: RegExp) => page.getByRole('button', { name })
  await preset(/^as_completed/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 3 tasks' })).toBeVisible()
  await preset(/^FIRST_COMPLETED/).click()
  await preset(/^wait with a timeout/).click()
  await preset(/^done callback/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 2 tasks' })).toBeVisible()

  // as_completed: all done, listed in the order they finished.
  for (const ms of [1500, 500, 1000]) await expect(row(page, `completes after ${ms} ms`)).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  const ids = await Promise.all([500, 1000, 1500].map((ms) => row(page, `completes after ${ms} ms`).getAttribute('data-task-id')))
  expect((await batchOf(ids[0]!)).completed).toEqual(ids)

  // FIRST_COMPLETED: the quickest is done, the others cancelled as the batch settled.
  await expect(row(page, 'racer 500 ms')).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  for (const ms of [3000, 5000]) {
    await expect(row(page, `racer ${ms} ms`)).toHaveAttribute('data-state', 'cancelled', { timeout: 20_000 })
    await expect(row(page, `racer ${ms} ms`)).toContainText('batch-settled')
  }
  const racer = await row(page, 'racer 500 ms').getAttribute('data-task-id')
  expect(await batchOf(racer!)).toMatchObject({ settledBy: 'first', returnWhen: 'first' })

  // wait with a timeout: the two short ones done, the long one cancelled at the deadline.
  for (const ms of [300, 800]) await expect(row(page, `waited ${ms} ms`)).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  await expect(row(page, 'waited 6000 ms')).toHaveAttribute('data-state', 'cancelled', { timeout: 20_000 })
  const waited = await row(page, 'waited 300 ms').getAttribute('data-task-id')
  expect(await batchOf(waited!)).toMatchObject({ settledBy: 'timeout', timeoutMs: 1500 })

  // done callback: the step failed, the callback ran anyway and got the error as its input.
  await expect(row(page, 'step that fails')).toHaveAttribute('data-state', 'failed', { timeout: 20_000 })
  await expect(row(page, 'callback always')).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  const failedStep = await row(page, 'step that fails').getAttribute('data-task-id')
  expect((await batchOf(failedStep!)).results[0]).toEqual({ error: { name: 'Error', message: 'step failed', code: null } })
})
