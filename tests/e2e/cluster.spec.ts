// The cluster in Chromium, all real: a redis-server on a free loopback port and two
// `taskloop serve --redis` nodes as separate processes. Node 1's UI shows both nodes and the
// queues, launches a task to a queue only node 2 serves, and shows it with its node, queue,
// progress and log lines live (node 1's API lists it too) and its lanes in the timeline; cancels
// a task of node 2 from its Cluster view; and says Redis is unreachable while it is stopped.
// Without --redis: no Cluster tab, and the settings say how to join.
import { expect, test, type Page } from '@playwright/test'
import { redisMissing, REDIS_SKIP_REASON, startRedis, type RedisServer } from '../helpers/redis'
import { startServer, type ServerProcess } from './server'
import { row, screenshot } from './ui'

/** Errors the page threw during the test: there must be none. */
let problems: string[] = []
test.beforeEach(() => {
  problems = []
})
test.afterEach(() => {
  expect(problems).toEqual([])
})

async function open(page: Page, server: ServerProcess): Promise<void> {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  await page.goto(server.url)
  await expect(page.getByRole('status').filter({ hasText: 'Connecting' })).toHaveCount(0)
}

test.describe('a node in no cluster', () => {
  let server: ServerProcess | null = null
  test.afterEach(async () => {
    await server?.stop()
    server = null
  })

  test('has no Cluster tab, and its settings say how to join one', async ({ page }) => {
    server = await startServer()
    await open(page, server)
    await expect(page.getByRole('tab', { name: 'Tasks' })).toBeVisible()
    await expect(page.getByRole('tab', { name: 'Cluster' })).toHaveCount(0)
    const settings = page.getByRole('region', { name: 'Cluster settings' })
    await expect(settings.locator('[data-cluster-summary]')).toHaveText('not in a cluster')
    await settings.getByText('Cluster settings').click()
    await expect(settings).toContainText('Set by the flags of taskloop serve')
    await expect(settings).toContainText('--redis redis://HOST:PORT')
    await expect(settings.locator('input')).toHaveCount(0)
    // A link to the Cluster view says the same as the API: no cluster.
    await page.goto(`${server.url}#view=cluster`)
    await expect(page.locator('[data-no-cluster]')).toContainText('This node is in no cluster')
  })
})

test.describe('two nodes on one Redis', () => {
  let redis: RedisServer | null = null
  const nodes: ServerProcess[] = []

  test.beforeEach(() => {
    const missing = redisMissing()
    if (missing) console.log(`skipped: ${missing}`)
    // Skipped where no redis-server is installed: these tests need a real one.
    test.skip(missing !== null, REDIS_SKIP_REASON)
  })
  test.afterEach(async () => {
    const testInfo = test.info()
    for (const node of nodes.splice(0)) {
      const code = await node.stop()
      if (testInfo.status !== testInfo.expectedStatus) console.log(`node (exit ${code}):\n${node.output()}`)
    }
    await redis?.stop()
    redis = null
  })

  /** Node 1 serves the default queue; node 2 also serves `n2only`, so a task sent there runs on node 2. */
  async function cluster(): Promise<[ServerProcess, ServerProcess]> {
    redis = await startRedis()
    const n1 = await startServer(['--redis', redis.url, '--node-id', 'n1'])
    nodes.push(n1)
    const n2 = await startServer(['--redis', redis.url, '--node-id', 'n2', '--queue', 'taskloop', '--queue', 'n2only'])
    nodes.push(n2)
    return [n1, n2]
  }

  test("node 1's UI shows both nodes, the queues, and a task of node 2 with its progress and log lines, live", async ({ page }) => {
    const [n1] = await cluster()
    await open(page, n1)

    await page.getByRole('tab', { name: 'Cluster' }).click()
    const panel = page.getByRole('tabpanel', { name: 'Cluster' })
    await expect(panel.locator('tr[data-node]')).toHaveCount(2, { timeout: 20_000 })
    await expect(panel.locator('tr[data-node="n1"]')).toContainText('this node')
    await expect(panel.locator('tr[data-node="n2"]')).not.toContainText('this node')
    await expect(panel.locator('tr[data-node="n2"]')).toContainText('n2only')
    await expect(panel.locator('tr[data-node="n1"] [data-heartbeat]')).toHaveText(/^\d+ s ago$/)
    await expect(panel.locator('tr[data-node="n2"] meter[aria-label^="n2 loop:"]')).toHaveCount(1)
    await expect(panel.locator('[data-redis-down]')).toHaveCount(0)

    // Launched from node 1's UI to a queue only node 2 serves: it runs there.
    await page.getByRole('radio', { name: 'Job' }).check()
    await page.locator('input[name="job"]').fill('ticker')
    await page.locator('textarea[name="params"]').fill(JSON.stringify({ steps: 30, intervalMs: 300 }))
    await page.locator('input[name="name"]').fill('remote ticker')
    await page.locator('input[name="queue"]').fill('n2only')
    await page.getByRole('button', { name: 'Launch', exact: true }).click()
    await expect(page.getByRole('status').filter({ hasText: 'Launched 1 task' })).toBeVisible()
    await expect(panel.locator('tr[data-queue="n2only"]')).toBeVisible()
    await expect(panel.locator('tr[data-node="n2"] meter[aria-label="n2 loop: 1 of 256 running"]')).toHaveCount(1, { timeout: 20_000 })
    await screenshot(page, 'cluster-panel')

    await page.getByRole('tab', { name: 'Tasks' }).click()
    const remote = row(page, 'remote ticker')
    await expect(remote).toHaveAttribute('data-state', 'running', { timeout: 20_000 })
    // Its progress as soon as it shows running: read only after the detail's checks below, on a
    // busy machine it had reached 1 (the task done) and could not be seen to move.
    const progress = async (): Promise<number> => Number((await remote.locator('progress').getAttribute('value')) ?? 0)
    const first = await progress()
    // Node 1's API has it too, with the same id, node and queue.
    const id = await remote.getAttribute('data-task-id')
    const listed = (await (await fetch(new URL('/api/tasks', n1.url))).json()) as { tasks: Array<{ id: string; node?: string; queue?: string }> }
    expect(listed.tasks.find((t) => t.id === id)).toMatchObject({ node: 'n2', queue: 'n2only' })
    await expect(remote.locator('td.node')).toHaveText('n2')
    await expect(remote.locator('td.queue')).toHaveText('n2only')

    // The node filter keeps it; the detail shows node 2's progress and log lines as they come.
    await page.getByLabel('Filter by node').selectOption('n2')
    await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(1)
    await remote.getByRole('button', { name: 'remote ticker', exact: true }).click()
    const detail = page.getByRole('region', { name: 'remote ticker' })
    await expect(detail.locator('[data-node]')).toHaveText('n2')
    await expect(detail.locator('[data-queue]')).toHaveText('n2only')
    const log = detail.getByLabel('Task log')
    await expect(log).toContainText('tick 3', { timeout: 20_000 })
    await expect.poll(progress, { timeout: 20_000 }).toBeGreaterThan(first)
    await expect(log).toContainText('tick 30', { timeout: 30_000 })
    await expect(remote).toHaveAttribute('data-state', 'done', { timeout: 20_000 })
    await screenshot(page, 'cluster-remote-task')

    // The timeline has node 2's lanes.
    await page.getByRole('tab', { name: 'Timeline' }).click()
    await expect(page.locator('.lanes li[data-node="n2"]')).not.toHaveCount(0)
  })

  test("node 1's Cancel all in the cluster stops a task running on node 2", async ({ page }) => {
    const [n1] = await cluster()
    await open(page, n1)
    await page.getByRole('radio', { name: 'Job' }).check()
    await page.locator('input[name="job"]').fill('sleep')
    await page.locator('textarea[name="params"]').fill(JSON.stringify({ ms: 120_000 }))
    await page.locator('input[name="name"]').fill('long remote sleep')
    await page.locator('input[name="queue"]').fill('n2only')
    await page.getByRole('button', { name: 'Launch', exact: true }).click()
    const remote = row(page, 'long remote sleep')
    await expect(remote).toHaveAttribute('data-state', 'running', { timeout: 20_000 })
    await expect(remote.locator('td.node')).toHaveText('n2')

    await page.getByRole('tab', { name: 'Cluster' }).click()
    const panel = page.getByRole('tabpanel', { name: 'Cluster' })
    await panel.getByRole('button', { name: 'Cancel all in the cluster' }).click()
    await panel.getByRole('alertdialog').getByRole('button', { name: 'Cancel them all' }).click()
    await page.getByRole('tab', { name: 'Tasks' }).click()
    await expect(remote).toHaveAttribute('data-state', 'cancelled', { timeout: 20_000 })
  })

  test('says Redis is unreachable while it is stopped, and stops saying it once it is back', async ({ page }) => {
    const [n1] = await cluster()
    await open(page, n1)
    await page.getByRole('tab', { name: 'Cluster' }).click()
    const panel = page.getByRole('tabpanel', { name: 'Cluster' })
    await expect(panel.locator('tr[data-node]')).toHaveCount(2, { timeout: 20_000 })
    await redis!.stop()
    const banner = page.locator('[data-redis-down]')
    await expect(banner).toContainText('Redis is unreachable', { timeout: 20_000 })
    await page.getByRole('tab', { name: 'Tasks' }).click()
    // On every view, not only the cluster's.
    await expect(banner).toBeVisible()
    await screenshot(page, 'cluster-redis-down')
    await redis!.restart()
    await expect(banner).toHaveCount(0, { timeout: 30_000 })
  })
})
