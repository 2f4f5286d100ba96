// The Quit button against the real headless server in Chromium: with tasks pending and running it
// asks what to do with them; "Keep pending for next start" leaves them in the data folder, and the
// next `taskloop serve` on that folder runs them (README "Stopping").
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, test } from '@playwright/test'
import type { TaskSnapshot } from '../../common/types'
import { startServer, type ServerProcess } from './server'

const servers: ServerProcess[] = []
test.afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop()
})

async function serve(dataDir: string): Promise<ServerProcess> {
  const s = await startServer(['--shutdown-grace-ms', '2000', '--data-dir', dataDir])
  servers.push(s)
  return s
}

const api = async <T>(s: ServerProcess, method: string, p: string, body?: unknown): Promise<T> => {
  const res = await fetch(new URL(p, s.url), { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

test('Quit asks; "Don\'t quit" keeps serving; "Keep pending for next start" keeps the queue for the next start', async ({ page }) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-e2e-quit-'))
  const first = await serve(dataDir)
  await api(first, 'POST', '/api/limits', { limits: { loop: 1 } })
  const [running] = (await api<{ ids: string[] }>(first, 'POST', '/api/tasks', { name: 'long', job: 'sleep', params: { ms: 120_000 } })).ids
  const { ids: pending } = await api<{ ids: string[] }>(first, 'POST', '/api/tasks', {
    batch: { tasks: Array.from({ length: 5 }, (_, i) => ({ name: `queued ${i}`, job: 'sleep', params: { ms: 1 } })) },
  })
  await page.goto(first.url)
  await expect(page.getByLabel('pending count', { exact: true })).toHaveText('5')

  await page.getByRole('button', { name: 'Quit', exact: true }).click()
  const dialog = page.getByRole('dialog', { name: 'Quit Taskloop?' })
  await expect(dialog).toContainText('1 running task')
  await expect(dialog).toContainText('5 pending tasks: cancelled, or kept to run at the next start')
  await dialog.getByRole('button', { name: "Don't quit" }).click()
  await expect(dialog).toHaveCount(0)
  expect((await api<{ shuttingDown: boolean }>(first, 'GET', '/api/stats')).shuttingDown).toBe(false)

  await page.getByRole('button', { name: 'Quit', exact: true }).click()
  await page.getByRole('button', { name: 'Keep pending for next start' }).click()
  await expect(page.getByRole('dialog', { name: /Shutting down|Shut down|Forcing/ })).toContainText(/kept for the next start|Everything has stopped/)
  expect(await first.exited).toBe(0)

  const next = await serve(dataDir)
  await expect
    .poll(async () => {
      const { tasks } = await api<{ tasks: TaskSnapshot[] }>(next, 'GET', '/api/tasks')
      const byId = new Map(tasks.map((t) => [t.id, t]))
      return [byId.get(running!)?.reason, ...pending.map((id) => byId.get(id)?.state)]
    })
    .toEqual(['interrupted', 'done', 'done', 'done', 'done', 'done'])
})
