// What the e2e tests do with the UI, through the same names a user (or a screen reader) sees, and the server each test opens it on.
import { expect, test, type Page } from '@playwright/test'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { TASK_STATES, type TaskState } from '../../common/types'
import { startServer, type ServerProcess } from './server'

// Globals of the page, for page.evaluate callbacks: this is the Node tsconfig (no DOM lib, and a
// lib reference would leak DOM types into the whole program).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any, document: any, MutationObserver: any, Element: any
/* eslint-enable @typescript-eslint/no-explicit-any */

export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results/screenshots')

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

export interface ServedUi {
  /** This test's `taskloop serve`. */
  readonly server: ServerProcess
  /** Opens the UI on this test's server and waits until it is connected and shows the counters. */
  open(page: Page): Promise<void>
}

/**
 * One `taskloop serve` per test of the calling spec file, stopped after it (its output printed
 * when the test failed). Page errors and CSP refusals only show up in the console: `open` collects
 * them and the test fails on any.
 */
export function serveEachTest(args: string[] = []): ServedUi {
  let server: ServerProcess | null = null
  let problems: string[] = []
  test.beforeEach(async () => {
    problems = []
    server = await startServer(args)
  })
  test.afterEach(async () => {
    const code = await server!.stop()
    const testInfo = test.info()
    if (testInfo.status !== testInfo.expectedStatus) console.log(`taskloop serve (exit ${code}):\n${server!.output()}`)
    server = null
    expect(problems).toEqual([])
  })
  const current = (): ServerProcess => {
    if (!server) throw new Error('the server exists only while a test runs')
    return server
  }
  return {
    get server() {
      return current()
    },
    async open(page) {
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text())
      })
      await page.goto(current().url)
      await expect(page.getByRole('status').filter({ hasText: 'Connecting' })).toHaveCount(0)
      await expect(page.getByLabel('pending count', { exact: true })).toHaveText('0')
    },
  }
}

export interface LaunchForm {
  name: string
  count: number
  concurrency?: number
  job?: string
  params?: unknown
  executor?: 'loop' | 'thread' | 'process'
  command?: string
}

/** Fills the launcher and presses Launch; waits for its confirmation. */
export async function launch(page: Page, form: LaunchForm): Promise<void> {
  if (form.command !== undefined) {
    await page.getByRole('radio', { name: 'Command' }).check()
    await page.locator('input[name="command"]').fill(form.command)
  } else {
    await page.getByRole('radio', { name: 'Job' }).check()
    await page.locator('input[name="job"]').fill(form.job ?? 'sleep')
    await page.locator('textarea[name="params"]').fill(JSON.stringify(form.params ?? {}))
    await page.locator('select[name="executor"]').selectOption(form.executor ?? '')
  }
  await page.locator('input[name="name"]').fill(form.name)
  await page.locator('input[name="count"]').fill(String(form.count))
  if (form.concurrency !== undefined) await page.locator('input[name="concurrency"]').fill(String(form.concurrency))
  await page.getByRole('button', { name: 'Launch', exact: true }).click()
  await expect(page.getByRole('status').filter({ hasText: `Launched ${form.count} task` })).toBeVisible()
}

export const rows = (page: Page) => page.locator('tbody tr[data-task-id]')
export const row = (page: Page, name: string) => page.getByRole('row', { name: new RegExp(`^${name} `) })

export async function counters(page: Page): Promise<Record<TaskState, number>> {
  const entries = await Promise.all(
    TASK_STATES.map(async (s) => [s, Number(await page.getByLabel(`${s} count`, { exact: true }).textContent())] as const),
  )
  return Object.fromEntries(entries) as Record<TaskState, number>
}

/** Records, in the page, every data-state each row shows, in order: the live transitions. */
export async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    type El = { getAttribute(name: string): string | null; matches(s: string): boolean; querySelectorAll(s: string): ArrayLike<El> }
    const seen: Record<string, string[]> = {}
    const note = (el: El): void => {
      const id = el.getAttribute('data-task-id')
      const state = el.getAttribute('data-state')
      if (!id || !state) return
      const list = (seen[id] ??= [])
      if (list[list.length - 1] !== state) list.push(state)
    }
    const rowsIn = (node: El): El[] => (node.matches('tr[data-task-id]') ? [node] : Array.from(node.querySelectorAll('tr[data-task-id]')))
    rowsIn(document.body).forEach(note)
    new MutationObserver((records: Array<{ type: string; target: unknown; addedNodes: ArrayLike<unknown> }>) => {
      for (const r of records) {
        if (r.type === 'attributes' && r.target instanceof Element) note(r.target as El)
        for (const n of Array.from(r.addedNodes)) if (n instanceof Element) rowsIn(n as El).forEach(note)
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] })
    window.__states = seen
  })
}

export const recordedStates = (page: Page): Promise<Record<string, string[]>> =>
  page.evaluate(() => window.__states as Record<string, string[]>)

/** The counters agree with the rows: every task counted once, under the state its row shows. */
export async function expectCountersMatchRows(page: Page, total: number): Promise<void> {
  await expect(rows(page)).toHaveCount(total)
  await expect
    .poll(async () => {
      const counted = await counters(page)
      const shown: Record<string, number> = Object.fromEntries(TASK_STATES.map((s) => [s, 0]))
      for (const state of await rows(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-state')!))) shown[state]!++
      const sum = Object.values(counted).reduce((a, b) => a + b, 0)
      const differ = TASK_STATES.filter((s) => counted[s] !== shown[s])
      return sum === total && differ.length === 0
        ? ''
        : `counters ${JSON.stringify(counted)} (sum ${sum}) vs rows ${JSON.stringify(shown)} (total ${total})`
    })
    .toBe('')
}

/**
 * The shared end-to-end flow (browser and Electron): 20 tasks on every executor, watched live
 * through pending → running → done, one cancelled from its row, the rest by Cancel all.
 */
export async function twentyTasks(page: Page, shots: string): Promise<void> {
  await recordStates(page)

  // Short ones finish on their own; long ones are there to be cancelled.
  await launch(page, { name: 'short sleep', job: 'sleep', params: { ms: 1500 }, executor: 'loop', count: 4, concurrency: 2 })
  await launch(page, { name: 'long sleep', job: 'sleep', params: { ms: 60_000 }, executor: 'loop', count: 4, concurrency: 4 })
  await launch(page, { name: 'thread spin', job: 'spin', params: { ms: 60_000 }, executor: 'thread', count: 4, concurrency: 4 })
  await launch(page, { name: 'process spin', job: 'spin', params: { ms: 60_000 }, executor: 'process', count: 4, concurrency: 4 })
  await launch(page, { name: 'sleep 2', command: 'sleep 2', count: 4, concurrency: 2 })
  await expect(rows(page)).toHaveCount(20)

  // Live: tasks queued behind a concurrency limit go pending → running → done while we watch.
  for (const name of ['short sleep #4', 'sleep 2 #4']) await expect(row(page, name)).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
  const states = await recordedStates(page)
  const ids = await Promise.all(['short sleep #4', 'sleep 2 #4'].map((n) => row(page, n).getAttribute('data-task-id')))
  for (const id of ids) expect(states[id!]).toEqual(['pending', 'running', 'done'])
  await expect(row(page, 'long sleep #1')).toHaveAttribute('data-state', 'running')
  await expect(row(page, 'thread spin #1')).toHaveAttribute('data-state', 'running')
  await expect(row(page, 'process spin #1')).toHaveAttribute('data-state', 'running')
  await expect(row(page, 'process spin #1').locator('td.worker')).toHaveText(/^pid \d+$/)
  await screenshot(page, `${shots}-running`)

  // Cancel one from its row.
  await row(page, 'long sleep #2').getByRole('button', { name: 'Cancel long sleep #2' }).click()
  await expect(row(page, 'long sleep #2')).toHaveAttribute('data-state', 'cancelled')
  await expect(row(page, 'long sleep #2').getByRole('button', { name: 'Retry long sleep #2' })).toBeVisible()
  await expect(row(page, 'long sleep #1')).toHaveAttribute('data-state', 'running')

  // Cancel all: nothing is left pending, running or cancelling. More than a handful running asks first.
  await page.getByRole('button', { name: 'Cancel all' }).click()
  const confirm = page.getByRole('alertdialog')
  if ((await counters(page)).running > 5) await confirm.getByRole('button', { name: 'Cancel all' }).click()
  await expect.poll(async () => (await counters(page)).cancelled, { timeout: 20_000 }).toBe(12)
  await expect(page.locator('tr[data-state="running"], tr[data-state="pending"], tr[data-state="cancelling"]')).toHaveCount(0)
  await expect(page.getByRole('button', { name: /^Cancel (?!all)/ })).toHaveCount(0)
  await expectCountersMatchRows(page, 20)
  expect(await counters(page)).toEqual({ pending: 0, running: 0, cancelling: 0, done: 4 + 4, failed: 0, cancelled: 12 })
  await screenshot(page, `${shots}-after-cancel-all`)
}
