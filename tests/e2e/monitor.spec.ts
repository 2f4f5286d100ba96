// The monitor's views in Chromium against the real headless server: search and filters, the
// detail with a live log, the timeline's lanes per worker, presets run to the end, the keyboard,
// the drain panel on SIGINT, 10,000 tasks in a virtualized table. Waits on states, never sleeps.
import { expect, test, type Page } from '@playwright/test'
import { copyFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import type { SubmitSpec } from '../../common/types'
import { row, rows, screenshot, SCREENSHOTS, serveEachTest } from './ui'

const ui = serveEachTest(['--shutdown-grace-ms', '3000'])

/** Submits through the server's HTTP API (what a script would do), not the launcher. */
async function submit(spec: SubmitSpec): Promise<string[]> {
  const res = await fetch(new URL('/api/tasks', ui.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { ids: string[] }).ids
}

const tab = (page: Page, name: string) => page.getByRole('tab', { name })

// What the timeline's pixel check uses in the page (this config type-checks without the DOM lib).
interface Canvas {
  width: number
  clientWidth: number
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null
}
declare const getComputedStyle: (el: Canvas) => { getPropertyValue(name: string): string }

test('search by name, params and error; filter by state and executor', async ({ page }) => {
  await ui.open(page)
  await submit({
    batch: {
      name: 'mixed',
      tasks: [
        ...Array.from({ length: 6 }, (_, i) => ({ name: `alpha ${i}`, job: 'sleep', params: { ms: 10 }, group: 'one' })),
        ...Array.from({ length: 4 }, (_, i) => ({ name: `beta ${i}`, job: 'sleep', params: { ms: 20, tag: 'needle-in-params' } })),
        { name: 'gamma', job: 'fail', params: { message: 'disk on fire', afterMs: 10 } },
        { name: 'delta', job: 'spin', params: { ms: 50 }, executor: 'thread' as const },
      ],
    },
  })
  await expect(page.getByLabel('done count', { exact: true })).toHaveText('11')
  await expect(rows(page)).toHaveCount(12)

  const search = page.getByRole('searchbox', { name: 'Search tasks' })
  await page.locator('body').press('/')
  await expect(search).toBeFocused()
  await search.fill('beta')
  await expect(rows(page)).toHaveCount(4)
  await search.fill('needle-in-params')
  await expect(rows(page)).toHaveCount(4)
  await search.fill('disk on fire')
  await expect(rows(page)).toHaveCount(1)
  await expect(row(page, 'gamma')).toHaveAttribute('data-state', 'failed')
  await screenshot(page, 'monitor-search')
  await search.fill('')
  await expect(rows(page)).toHaveCount(12)

  await page.getByLabel('Filter by state').selectOption('failed')
  await expect(rows(page)).toHaveCount(1)
  await page.getByLabel('Filter by state').selectOption('')
  await page.getByLabel('Filter by executor').selectOption('thread')
  await expect(rows(page)).toHaveCount(1)
  await expect(row(page, 'delta')).toBeVisible()
  await page.getByLabel('Filter by executor').selectOption('')
  await page.getByLabel('Filter by group').selectOption('one')
  await expect(rows(page)).toHaveCount(6)
  await screenshot(page, 'monitor-filter')
  await page.getByLabel('Filter by group').selectOption('')

  // Sort by name: ascending first, then the other way.
  await page.getByRole('button', { name: 'Sort by name' }).click()
  await expect(rows(page).first()).toHaveAttribute('aria-label', 'alpha 0 done')
  await expect(page.getByRole('columnheader', { name: 'Sort by name' })).toHaveAttribute('aria-sort', 'ascending')
  await page.getByRole('button', { name: 'Sort by name' }).click()
  await expect(rows(page).first()).toHaveAttribute('aria-label', 'gamma failed')
})

test('the detail follows a live log, can pause it, and shows attempts and the error', async ({ page }) => {
  await ui.open(page)
  // 10 s of ticks: on a loaded machine opening the detail alone has taken 4 s, and the pause must
  // come while lines still arrive.
  await submit({ name: 'talkative', job: 'ticker', params: { steps: 50, intervalMs: 200 }, executor: 'loop' })
  await submit({ name: 'flaky', job: 'fail', params: { message: 'nope', afterMs: 10 }, retries: 1, retryDelayMs: 10 })
  await row(page, 'talkative').getByRole('button', { name: 'talkative', exact: true }).click()
  const detail = page.getByRole('region', { name: 'talkative' })
  const log = detail.getByLabel('Task log')
  await expect(log).toContainText('tick 3')
  await detail.getByRole('button', { name: 'Pause log' }).click()
  const frozen = await log.textContent()
  await expect(detail.getByRole('button', { name: /Follow log \(\d+ new\)/ })).toBeVisible()
  expect(await log.textContent()).toBe(frozen)
  await detail.getByRole('button', { name: /Follow log/ }).click()
  await expect(log).toContainText('tick 50', { timeout: 30_000 })
  await expect(detail.getByRole('table', { name: 'Attempts' })).toContainText('done')
  await screenshot(page, 'monitor-detail-log')

  // Esc closes; the other task shows both attempts, the retried one and the final failure.
  await page.keyboard.press('Escape')
  await expect(detail).toHaveCount(0)
  await expect(row(page, 'flaky')).toHaveAttribute('data-state', 'failed')
  await row(page, 'flaky').getByRole('button', { name: 'flaky', exact: true }).click()
  const flaky = page.getByRole('region', { name: 'flaky' })
  await expect(flaky.getByRole('table', { name: 'Attempts' }).locator('tbody tr')).toHaveCount(2)
  await expect(flaky.getByRole('table', { name: 'Attempts' })).toContainText('retried')
  await expect(flaky).toContainText('nope')
  await screenshot(page, 'monitor-detail-error')
})

test('timeline: a lane per worker thread and pool process, one for the loop and one for commands', async ({ page }) => {
  await ui.open(page)
  await page.getByRole('spinbutton', { name: 'thread concurrency' }).fill('2')
  await page.getByRole('spinbutton', { name: 'thread concurrency' }).press('Tab')
  await page.getByRole('spinbutton', { name: 'process concurrency' }).fill('2')
  await page.getByRole('spinbutton', { name: 'process concurrency' }).press('Tab')
  await expect(page.getByRole('spinbutton', { name: 'process concurrency' })).toHaveValue('2')
  await submit({
    batch: {
      name: 'lanes',
      tasks: [
        ...[1, 2, 3].map((i) => ({ name: `thr ${i}`, job: 'spin', params: { ms: 400 }, executor: 'thread' as const })),
        ...[1, 2, 3].map((i) => ({ name: `proc ${i}`, job: 'spin', params: { ms: 400 }, executor: 'process' as const })),
        { name: 'nap', job: 'sleep', params: { ms: 300 }, executor: 'loop' as const },
        { name: 'shell', command: 'sleep 0.3' },
      ],
    },
  })
  await expect(page.getByLabel('done count', { exact: true })).toHaveText('8', { timeout: 20_000 })
  await tab(page, 'Timeline').click()
  await expect(page.locator('li[data-kind="thread"]')).toHaveCount(2)
  await expect(page.locator('li[data-kind="process"]')).toHaveCount(2)
  await expect(page.locator('li[data-kind="loop"]')).toHaveText(/engine loop/)
  await expect(page.locator('li[data-kind="command"]')).toHaveText(/commands/)
  // Every worker ran at least one bar; the three of each kind are spread over two workers.
  for (const kind of ['thread', 'process']) {
    const counts = await page.locator(`li[data-kind="${kind}"]`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-bars'))))
    expect(counts.every((n) => n >= 1)).toBe(true)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(3)
  }
  await page.getByRole('button', { name: 'Fit all' }).click()
  await screenshot(page, 'monitor-timeline')

  // A click on a bar opens its task: the loop lane has one bar, "nap".
  const laneIndex = await page.locator('li[data-lane]').evaluateAll((els) => els.findIndex((e) => e.getAttribute('data-kind') === 'loop'))
  const canvas = page.getByRole('img', { name: /^Timeline of/ })
  const box = (await canvas.boundingBox())!
  const y = 20 + laneIndex * 24 + 12
  // Fit all holds the window still: scan along the lane for the bar (a fair share of the width).
  await expect(page.getByRole('button', { name: 'Live' })).toHaveAttribute('aria-pressed', 'false')
  for (let x = 5; x < box.width; x += 15) {
    await canvas.click({ position: { x, y } })
    if ((await page.getByRole('region', { name: 'nap' }).count()) > 0) break
  }
  await expect(page.getByRole('region', { name: 'nap' })).toBeVisible()
})

test('timeline: the gather preset shows three bars on three rows of the engine loop; hover says what a bar is', async ({ page }) => {
  await ui.open(page)
  await page.getByRole('button', { name: /^gather/ }).click()
  await expect(page.getByLabel('done count', { exact: true })).toHaveText('3', { timeout: 30_000 })
  await tab(page, 'Timeline').click()
  const loop = page.locator('li[data-kind="loop"]')
  await expect(loop).toHaveAttribute('data-rows', '3')
  await expect(loop).toHaveAttribute('data-bars', '3')
  await page.getByRole('button', { name: 'Fit all' }).click()
  await expect(page.getByRole('button', { name: 'Live' })).toHaveAttribute('aria-pressed', 'false')

  // The pixels, not only the markup: on each row's centre line, the extent of the "done" colour.
  const canvas = page.getByRole('img', { name: /^Timeline of/ })
  const bars = () =>
    canvas.evaluate((el: Canvas) => {
      const hex = getComputedStyle(el).getPropertyValue('--done').trim()
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
      const dpr = el.width / el.clientWidth
      const ctx = el.getContext('2d')!
      return [0, 1, 2].map((row) => {
        const y = Math.round((20 + row * 24 + 12) * dpr)
        const px = ctx.getImageData(0, y, el.width, 1).data
        let from = -1
        let to = -1
        for (let x = 0; x < el.width; x++) {
          const same = want.every((v, c) => Math.abs(px[x * 4 + c]! - v) <= 8) && px[x * 4 + 3]! > 200
          if (same) {
            if (from < 0) from = x
            to = x
          }
        }
        return from < 0 ? null : { from: from / dpr, to: to / dpr }
      })
    })
  await expect.poll(async () => (await bars()).every((b) => b !== null), { timeout: 10_000 }).toBe(true)
  const [one, two, four] = (await bars()) as { from: number; to: number }[]
  // 1 s, 2 s and 4 s sleeps started together: three bars, each longer than the last.
  expect(two!.to - two!.from).toBeGreaterThan(one!.to - one!.from)
  expect(four!.to - four!.from).toBeGreaterThan(two!.to - two!.from)

  // Hover on the longest bar: a tooltip names it; the canvas points at it for assistive tech.
  const position = { x: Math.round((four!.from + four!.to) / 2), y: 20 + 2 * 24 + 12 }
  await canvas.hover({ position })
  const tip = page.getByRole('tooltip')
  await expect(tip).toContainText('sleep 4 s')
  await expect(tip).toContainText('state: done')
  await expect(tip).toContainText(/wait: \d+ ms/)
  await expect(tip).toContainText(/run: \d+\.\d s/)
  await expect(tip).toContainText('worker: loop')
  await expect(canvas).toHaveAttribute('aria-describedby', 'timeline-tip')
  await screenshot(page, 'monitor-timeline-gather')
  await canvas.click({ position })
  await expect(page.getByRole('region', { name: 'sleep 4 s' })).toBeVisible()
})

test('presets run to the end: gather, Pool(3) on threads, chain, wait_for', async ({ page }) => {
  await ui.open(page)
  const preset = (name: RegExp) => page.getByRole('button', { name })
  await preset(/^gather/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 3 tasks' })).toBeVisible()
  await preset(/^Pool\(3\).*threads/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 4 tasks' })).toBeVisible()
  await expect(page.getByRole('spinbutton', { name: 'thread concurrency' })).toHaveValue('3')
  await preset(/^chain/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 2 tasks' })).toBeVisible()
  await preset(/^wait_for/).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 1 task' })).toBeVisible()

  await expect(row(page, 'times out')).toHaveAttribute('data-state', 'failed', { timeout: 10_000 })
  await expect(row(page, 'times out')).toContainText('timeout')
  for (const name of ['sleep 1 s', 'sleep 2 s', 'sleep 4 s', 'cpu thread 1', 'cpu thread 4', 'phase1', 'phase2']) {
    await expect(row(page, name)).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  }
  const workers = await rows(page)
    .filter({ hasText: 'cpu thread' })
    .locator('td.worker')
    .allTextContents()
  expect(new Set(workers).size).toBe(3)
  await screenshot(page, 'monitor-presets')
  // The chain: phase2 names phase1 as what it ran after, and started once phase1 had ended.
  await row(page, 'phase2').getByRole('button', { name: 'phase2', exact: true }).click()
  const detail = page.getByRole('region', { name: 'phase2' })
  await expect(detail).toContainText('Runs after: phase1 (done)')
  const [p1, p2] = await Promise.all(
    ['phase1', 'phase2'].map(async (n) => (await fetch(new URL(`/api/tasks/${await row(page, n).getAttribute('data-task-id')}`, ui.server.url)).then((r) => r.json())) as { startedAt: number; endedAt: number }),
  )
  expect(p2!.startedAt).toBeGreaterThanOrEqual(p1!.endedAt)
})

test('keyboard: arrows move, c cancels, Space selects, r retries the selection', async ({ page }) => {
  await ui.open(page)
  await submit({ batch: { name: 'waits', tasks: [1, 2, 3].map((i) => ({ name: `wait ${i}`, job: 'sleep', params: { ms: 60_000 } })) } })
  await expect(page.getByLabel('running count', { exact: true })).toHaveText('3')
  // Newest first: wait 3, wait 2, wait 1.
  await page.getByRole('tab', { name: 'Tasks' }).click()
  await page.keyboard.press('ArrowDown')
  await expect(row(page, 'wait 3')).toHaveAttribute('aria-current', 'true')
  await page.keyboard.press('ArrowDown')
  await expect(row(page, 'wait 2')).toHaveAttribute('aria-current', 'true')
  await page.keyboard.press('c')
  await expect(row(page, 'wait 2')).toHaveAttribute('data-state', 'cancelled')
  await expect(row(page, 'wait 3')).toHaveAttribute('data-state', 'running')

  await page.keyboard.press('ArrowDown')
  await page.keyboard.press(' ')
  await page.keyboard.press('ArrowUp')
  await page.keyboard.press('ArrowUp')
  await page.keyboard.press(' ')
  await expect(page.getByRole('status').filter({ hasText: '2 selected' })).toBeVisible()
  await page.keyboard.press('c')
  await expect(page.getByLabel('cancelled count', { exact: true })).toHaveText('3')
  await page.keyboard.press('r')
  await expect(rows(page)).toHaveCount(5)
  await page.keyboard.press('Enter')
  await expect(page.getByRole('region', { name: 'wait 3' })).toBeVisible()
  await screenshot(page, 'monitor-keyboard')
  await page.keyboard.press('Escape')
  await expect(page.getByRole('region', { name: 'wait 3' })).toHaveCount(0)
})

test('metrics: charts fill from the live stats; the drain panel on SIGINT counts down and names what was forced', async ({ page }) => {
  await ui.open(page)
  await submit({ name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true }, executor: 'loop' })
  await submit({ name: 'polite', job: 'sleep', params: { ms: 60_000 }, executor: 'loop' })
  await submit({ batch: { name: 'churn', concurrency: 4, tasks: Array.from({ length: 40 }, (_, i) => ({ name: `churn ${i}`, job: 'sleep', params: { ms: 100 } })) } })
  await tab(page, 'Metrics').click()
  const metrics = page.getByRole('region', { name: /Metrics/ })
  await expect(metrics.getByRole('img', { name: /^Throughput: finished [1-9]/ })).toBeVisible({ timeout: 15_000 })
  await expect(metrics.getByRole('table', { name: 'Pools' })).toContainText('loop')
  await screenshot(page, 'monitor-metrics')
  await tab(page, 'Tasks').click()
  // Newest first: the 40 short ones are above it; search brings it into view.
  await page.getByRole('searchbox', { name: 'Search tasks' }).fill('stubborn')
  await expect(row(page, 'stubborn')).toHaveAttribute('data-state', 'running')

  ui.server.child.kill('SIGINT')
  const dialog = page.getByRole('dialog', { name: /Shutting down|Forcing|Shut down/ })
  await expect(dialog).toBeVisible()
  await expect(dialog).toContainText('Press Ctrl+C again to force now')
  await expect(dialog.locator('li', { hasText: 'stubborn' })).toContainText(/forced in \d/)
  await expect(dialog).toContainText(/will be forced/)
  await screenshot(page, 'monitor-drain')
  await expect(dialog.locator('li', { hasText: 'polite' })).toContainText('stopped')
  await expect(dialog).toContainText(/Forced \(1\)/, { timeout: 10_000 })
  await expect(dialog.locator('.draining li', { hasText: 'stubborn' })).toContainText('forced')
  await screenshot(page, 'monitor-drain-forced')
  expect(await ui.server.exited).toBe(130)
})

test('10,000 tasks: the table keeps under 150 rows in the DOM and scrolls to the oldest', async ({ page }) => {
  await ui.open(page)
  await submit({ batch: { name: 'many', tasks: Array.from({ length: 10_000 }, (_, i) => ({ name: `n${i}`, job: 'sleep', params: { ms: 0 } })) } })
  await expect(page.getByLabel('done count', { exact: true })).toHaveText('10000', { timeout: 30_000 })
  await expect(page.getByRole('heading', { name: /Tasks \(10000\)/ })).toBeVisible()
  expect(await rows(page).count()).toBeLessThan(150)
  await page.locator('.table-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight))
  await expect(row(page, 'n0')).toBeVisible()
  expect(await rows(page).count()).toBeLessThan(150)
  await page.getByRole('searchbox', { name: 'Search tasks' }).fill('n9999')
  await expect(rows(page)).toHaveCount(1)
})

test('the main view with tasks in several states (docs/screenshot.png)', async ({ page }) => {
  await ui.open(page)
  await submit({
    batch: {
      name: 'crawl',
      concurrency: 4,
      tasks: Array.from({ length: 12 }, (_, i) => ({ name: `fetch page ${i + 1}`, job: 'ticker', params: { steps: 8 + i, intervalMs: 400 }, group: 'crawl' })),
    },
  })
  await submit({ batch: { name: 'cpu', tasks: [1, 2].map((i) => ({ name: `primes ${i}`, job: 'spin', params: { ms: 30_000 }, executor: 'thread' as const })) } })
  await submit({ name: 'report', job: 'fail', params: { message: 'upstream returned 503', afterMs: 50 } })
  await submit({ name: 'build site', command: 'sleep 30' })
  const [old] = await submit({ name: 'old export', job: 'sleep', params: { ms: 60_000 } })
  await submit({ name: 'thumbnails', job: 'sleep', params: { ms: 200 }, executor: 'loop' })
  await expect(row(page, 'report')).toHaveAttribute('data-state', 'failed')
  await fetch(new URL(`/api/tasks/${old}/cancel`, ui.server.url), { method: 'POST', headers: { 'content-type': 'application/json' } })
  await expect(row(page, 'old export')).toHaveAttribute('data-state', 'cancelled')
  await expect(row(page, 'thumbnails')).toHaveAttribute('data-state', 'done')
  await expect(row(page, 'fetch page 1')).toHaveAttribute('data-state', 'done', { timeout: 15_000 })
  await expect(row(page, 'fetch page 6')).toHaveAttribute('data-state', 'running')
  await row(page, 'fetch page 5').getByRole('button', { name: 'fetch page 5', exact: true }).click()
  await expect(page.getByRole('region', { name: 'fetch page 5' }).getByLabel('Task log')).toContainText('tick 2')
  await screenshot(page, 'monitor-main')
  const docs = path.resolve(import.meta.dirname, '../../docs')
  mkdirSync(docs, { recursive: true })
  copyFileSync(path.join(SCREENSHOTS, 'monitor-main.png'), path.join(docs, 'screenshot.png'))
})
