// The UI in a real browser (Debian's Chromium) against the real headless server: launch a mix of
// executors, watch the rows move live, cancel one, cancel all, and quit.
import { expect, test } from '@playwright/test'
import { readFileSync } from 'node:fs'
import { launch, row, rows, screenshot, serveEachTest, twentyTasks } from './ui'

const ui = serveEachTest(['--shutdown-grace-ms', '3000'])

test('20 tasks on every executor: live states, cancel one, cancel all, counters add up', async ({ page }) => {
  await ui.open(page)
  await twentyTasks(page, 'browser')
  await page.emulateMedia({ colorScheme: 'dark' })
  await screenshot(page, 'browser-dark')
})

test('a bad spec is refused in the launcher, naming the field; a failed task can be retried', async ({ page }) => {
  await ui.open(page)
  await page.locator('textarea[name="params"]').fill('{"ms": }')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(page.getByRole('alert')).toHaveText(/^params: not valid JSON/)
  await expect(page.locator('textarea[name="params"]')).toHaveAttribute('aria-invalid', 'true')

  await page.locator('textarea[name="params"]').fill('{"ms": 10}')
  await page.locator('input[name="timeoutMs"]').fill('0')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(page.getByRole('alert')).toHaveText(/^timeoutMs: /)
  await page.locator('input[name="timeoutMs"]').fill('')

  await launch(page, { name: 'boom', job: 'fail', params: { message: 'on purpose', afterMs: 50 }, count: 1 })
  await expect(row(page, 'boom')).toHaveAttribute('data-state', 'failed')
  await expect(row(page, 'boom')).toContainText('on purpose')
  await screenshot(page, 'browser-validation')
  await row(page, 'boom').getByRole('button', { name: 'Retry boom' }).click()
  await expect(rows(page)).toHaveCount(2)
})

test('concurrency per executor is set from the UI and kept by the engine', async ({ page }) => {
  await ui.open(page)
  const thread = page.getByRole('spinbutton', { name: 'thread concurrency' })
  await thread.fill('3')
  // Live stats arrive every second: what is typed stays while the field has focus.
  await expect(page.locator('.limits .pool').first()).toBeVisible()
  await expect(thread).toHaveValue('3')
  const applied = page.waitForResponse((r) => r.url().endsWith('/api/limits') && r.ok())
  await thread.press('Tab')
  await applied
  await expect(page.locator('#limit-thread-status')).toHaveText('set to 3')
  await expect(thread).toHaveValue('3')
  await page.reload()
  await expect(page.getByRole('spinbutton', { name: 'thread concurrency' })).toHaveValue('3')
  await launch(page, { name: 'spin', job: 'spin', params: { ms: 5000 }, executor: 'thread', count: 4, concurrency: 4 })
  await expect(rows(page).and(page.locator('[data-state="running"]'))).toHaveCount(3)
  await expect(rows(page).and(page.locator('[data-state="pending"]'))).toHaveCount(1)
})

test("a task's details show its outcome and its log, live", async ({ page }) => {
  await ui.open(page)
  await launch(page, { name: 'talker', command: 'echo hello from taskloop; sleep 1; echo bye >&2; exit 3', count: 1 })
  await row(page, 'talker').getByRole('button', { name: 'talker', exact: true }).click()
  const detail = page.getByRole('region', { name: 'talker' })
  const log = detail.getByLabel('Task log')
  await expect(log).toContainText('hello from taskloop')
  await expect(row(page, 'talker')).toHaveAttribute('data-state', 'failed')
  await expect(log).toContainText('bye')
  await expect(detail).toContainText('exit-code')
  await screenshot(page, 'browser-detail')
  await detail.getByRole('button', { name: 'Close details' }).click()
  await expect(detail).toHaveCount(0)
})

test('Quit shows what drains and the countdown, then the server exits', async ({ page }) => {
  await ui.open(page)
  await launch(page, { name: 'stubborn', job: 'sleep', params: { ms: 60_000, ignoreCancel: true }, executor: 'loop', count: 1 })
  await launch(page, { name: 'spinner', job: 'spin', params: { ms: 60_000 }, executor: 'thread', count: 1 })
  await expect(row(page, 'stubborn')).toHaveAttribute('data-state', 'running')
  await page.getByRole('button', { name: 'Quit', exact: true }).click()
  // Tasks are running: Quit asks first (tests/e2e/quit.spec.ts covers the choices).
  await page.getByRole('dialog', { name: 'Quit Taskloop?' }).getByRole('button', { name: 'Cancel pending' }).click()
  const dialog = page.getByRole('dialog', { name: /Shutting down|Forcing|Shut down/ })
  await expect(dialog).toBeVisible()
  await expect(dialog).toContainText('stubborn')
  await expect(dialog).toContainText('Press Ctrl+C again to force now')
  await screenshot(page, 'browser-shutdown')
  // After the 3 s grace the loop job that ignores its signal is abandoned: the overlay names it.
  await expect(dialog.getByRole('list').last()).toContainText('stubborn', { timeout: 10_000 })
  await expect(dialog).toContainText(/Forced \(1\)/)
  await screenshot(page, 'browser-shutdown-forced')
  expect(await ui.server.exited).toBe(0)
  // The page outlives the server and says so.
  await expect(page.getByRole('status').filter({ hasText: 'No word from the engine' })).toBeVisible({ timeout: 10_000 })
})

test('the launcher refuses at submit, in plain words naming the field: an unknown job, a missing module, params out of range', async ({ page }) => {
  await ui.open(page)
  const alert = page.getByRole('alert')
  const jobField = page.locator('input[name="job"]')
  const params = page.locator('textarea[name="params"]')
  await jobField.fill('sleeep')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(alert).toHaveText(/^job: unknown job "sleeep"/)
  await expect(jobField).toHaveAttribute('aria-invalid', 'true')
  await jobField.fill('./no/such/module.mjs#run')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(alert).toHaveText(/^job: job module not found: /)
  await jobField.fill('sleep')
  await params.fill('{"ms": -5}')
  await page.locator('input[name="count"]').fill('3')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(alert).toHaveText('params.ms: ms must be 0 or more')
  await expect(params).toHaveAttribute('aria-invalid', 'true')
  await screenshot(page, 'browser-launcher-refusal')
  await expect(rows(page)).toHaveCount(0)

  // Intake paused: the launch says its tasks wait.
  await page.getByRole('button', { name: 'Pause intake' }).click()
  await expect(page.getByRole('button', { name: 'Resume intake' })).toBeVisible()
  await params.fill('{"ms": 10}')
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(page.getByRole('status').filter({ hasText: 'Launched 3 tasks. Intake is paused' })).toBeVisible()
})

test('the open task and the filters live in the URL: a reload keeps them, a link opens the same view', async ({ page, context }) => {
  await ui.open(page)
  await launch(page, { name: 'linked', job: 'sleep', params: { ms: 10 }, executor: 'loop', count: 2, concurrency: 2 })
  await expect(row(page, 'linked #2')).toHaveAttribute('data-state', 'done')
  await page.getByRole('searchbox').fill('linked #2')
  await row(page, 'linked #2').getByRole('button', { name: 'linked #2', exact: true }).click()
  await expect(page.getByRole('region', { name: 'linked #2' })).toBeVisible()
  await expect(page).toHaveURL(/#q=linked\+%232&task=/)
  const link = page.url()

  await page.reload()
  await expect(page.getByRole('searchbox')).toHaveValue('linked #2')
  await expect(rows(page)).toHaveCount(1)
  await expect(page.getByRole('region', { name: 'linked #2' })).toBeVisible()

  const other = await context.newPage()
  await other.goto(link)
  await expect(other.getByRole('region', { name: 'linked #2' })).toBeVisible()
  await expect(other.getByRole('searchbox')).toHaveValue('linked #2')
  await other.close()
})

test('findable: ? lists the shortcuts, ArrowDown in the search box moves into the results, the Tasks tab exports what it shows', async ({ page }) => {
  await ui.open(page)
  await launch(page, { name: 'findme', job: 'sleep', params: { ms: 10 }, executor: 'loop', count: 3, concurrency: 3 })
  await launch(page, { name: 'other', job: 'sleep', params: { ms: 10 }, executor: 'loop', count: 2, concurrency: 2 })
  await expect(row(page, 'findme #3')).toHaveAttribute('data-state', 'done')

  await page.locator('body').press('?')
  const shortcuts = page.getByRole('dialog', { name: 'Keyboard shortcuts' })
  await expect(shortcuts).toContainText('move into the results')
  await screenshot(page, 'browser-shortcuts')
  await page.keyboard.press('Escape')
  await expect(shortcuts).toHaveCount(0)

  const search = page.getByRole('searchbox')
  await search.fill('findme')
  await expect(rows(page)).toHaveCount(3)
  await search.press('ArrowDown')
  const list = page.getByLabel(/^Task list/)
  await expect(list).toBeFocused()
  const first = await rows(page).first().getAttribute('data-task-id')
  await expect(list).toHaveAttribute('aria-activedescendant', `task-row-${first}`)

  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Export JSON' }).click()
  const file = await (await download).path()
  const exported = JSON.parse(readFileSync(file, 'utf8')) as Array<{ name: string }>
  expect(exported.map((t) => t.name).sort()).toEqual(['findme #1', 'findme #2', 'findme #3'])
})
