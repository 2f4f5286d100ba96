// The real `taskloop` CLI as a child process, about where its token may show up (command lines,
// environments, files), how it may face a network, and what a task may print to a terminal.
import { execFileSync, spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskDetail } from '../../../common/types'
import { CLI_ENTRY, START_MS, useCli, type Cli } from '../../helpers/cli'
import { waitFor } from './helpers'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

const cli = useCli()

const uiUrl = async (c: Cli): Promise<URL> =>
  new URL((await waitFor('the URL line', () => /^Taskloop UI: (\S+)\n/.exec(c.stdout()), START_MS))[1]!)

const cmdline = async (pid: number): Promise<string> => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ')

async function stopped(c: Cli): Promise<number | null> {
  c.child.kill('SIGTERM')
  return c.exited
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'taskloop-secrets-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const SERVE = ['serve', '--port', '0', '--no-store', '--shutdown-grace-ms', '1000']
const TOKEN = 'A-chosen-token-of-forty-characters-0123456'

describe('taskloop serve: the token on no command line', () => {
  it('--open hands the browser a 0600 redirect file, not the URL, and removes it at the end', async () => {
    const argvFile = path.join(dir, 'browser-argv')
    const browser = path.join(dir, 'fake-browser.sh')
    // A stand-in for Chromium: it records its argv and waits to be closed, as a window would.
    await writeFile(browser, `#!/bin/sh\nprintf '%s\\n' "$@" > "$ARGV_OUT.part" && mv "$ARGV_OUT.part" "$ARGV_OUT"\nexec sleep 600\n`)
    await chmod(browser, 0o755)
    const serve = cli([...SERVE, '--open'], { env: { TASKLOOP_BROWSER: browser, DISPLAY: ':99', ARGV_OUT: argvFile } })
    const url = await uiUrl(serve)
    const token = url.searchParams.get('token')!
    const argv = await waitFor('the browser to start', async () => existsSync(argvFile) && (await readFile(argvFile, 'utf8')), START_MS)
    expect(argv).not.toContain(token)
    expect(await cmdline(serve.child.pid!)).not.toContain(token)
    const app = /^--app=(file:\S+)$/m.exec(argv)
    expect(app, argv).not.toBeNull()
    const redirect = fileURLToPath(app![1]!)
    expect((await stat(redirect)).mode & 0o777).toBe(0o600)
    expect((await stat(path.dirname(redirect))).mode & 0o777).toBe(0o700)
    const html = await readFile(redirect, 'utf8')
    expect(html).toContain(`url=${url.href}`)
    expect(await stopped(serve)).toBe(0)
    expect(existsSync(redirect)).toBe(false)
  })

  it('--token-file: the token works and is not on the server command line', async () => {
    const file = path.join(dir, 'token')
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 })
    const serve = cli([...SERVE, '--token-file', file])
    const url = await uiUrl(serve)
    expect(url.searchParams.get('token')).toBe(TOKEN)
    expect(await cmdline(serve.child.pid!)).not.toContain(TOKEN)
    expect((await fetch(`${url.origin}/api/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
    expect(await stopped(serve)).toBe(0)
  })

  it('TASKLOOP_TOKEN: the token works, and command tasks do not inherit it', async () => {
    const serve = cli(SERVE, { env: { TASKLOOP_TOKEN: TOKEN } })
    const url = await uiUrl(serve)
    expect(url.searchParams.get('token')).toBe(TOKEN)
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
    const res = await fetch(`${url.origin}/api/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'env probe', argv: ['sh', '-c', 'echo "seen=[$TASKLOOP_TOKEN]"'] }),
    })
    const [id] = ((await res.json()) as { ids: string[] }).ids
    const detail = await waitFor('the probe to finish', async () => {
      const t = (await (await fetch(`${url.origin}/api/tasks/${id}`, { headers })).json()) as TaskDetail
      return t.state === 'done' && t
    })
    expect(detail.log.map((l) => l.line)).toContain('seen=[]')
    expect(await stopped(serve)).toBe(0)
  })

  it('refuses --token together with --token-file', async () => {
    const serve = cli([...SERVE, '--token', TOKEN, '--token-file', path.join(dir, 'token')])
    expect(await serve.exited).toBe(2)
    expect(serve.stderr()).toContain('--token and --token-file')
  })
})

describe('taskloop serve --host 0.0.0.0', () => {
  it('refuses plain http unless --insecure-http says so, and a token under 128 bits', async () => {
    const plain = cli([...SERVE, '--host', '0.0.0.0'])
    expect(await plain.exited).toBe(2)
    expect(plain.stderr()).toMatch(/--tls-cert FILE and --tls-key FILE, or --insecure-http/)
    const short = path.join(dir, 'short-token')
    await writeFile(short, '0123456789abcdef0123456789abcde', { mode: 0o600 }) // 31 characters
    const weak = cli([...SERVE, '--host', '0.0.0.0', '--insecure-http', '--token-file', short])
    expect(await weak.exited).toBe(2)
    expect(weak.stderr()).toContain('at least 128 bits')
    const lonelyCert = cli([...SERVE, '--host', '0.0.0.0', '--tls-cert', short])
    expect(await lonelyCert.exited).toBe(2)
    expect(lonelyCert.stderr()).toContain('--tls-cert and --tls-key go together')
  })

  it('--insecure-http serves, and says loudly what it means', async () => {
    const serve = cli([...SERVE, '--host', '0.0.0.0', '--insecure-http'])
    const url = await uiUrl(serve)
    expect(serve.stderr()).toContain('the token and every request cross the network unencrypted')
    const token = url.searchParams.get('token')!
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect((await fetch(`${url.origin}/api/stats`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect(await stopped(serve)).toBe(0)
  })

  it('--tls-cert and --tls-key serve https', async () => {
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')]
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'ignore' })
    const serve = cli([...SERVE, '--host', '0.0.0.0', '--tls-cert', certFile, '--tls-key', keyFile])
    const url = await uiUrl(serve)
    expect(url.protocol).toBe('https:')
    expect(serve.stderr()).not.toContain('unencrypted')
    const ca = await readFile(certFile, 'utf8')
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${url.origin}/api/stats`, { ca, headers: { authorization: `Bearer ${url.searchParams.get('token')}` } }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(200)
    expect(await stopped(serve)).toBe(0)
  })
})

describe('taskloop run: task output cannot drive the terminal', () => {
  // OSC 52 (write the clipboard), OSC 0 (window title), cursor up and erase line, a C1 CSI, a bidi override.
  const HOSTILE = String.raw`printf '\033]52;c;cHduZWQ=\007\033]0;owned\007\033[3A\033[2Kgotcha \302\233 \342\200\256evil\n' >&2; exit 3`
  const spec = { name: 'evil\u001b[2Jname', argv: ['sh', '-c', HOSTILE] }

  it('prints escapes visibly, in the line view (a pipe)', async () => {
    const file = path.join(dir, 'hostile.json')
    await writeFile(file, JSON.stringify(spec))
    const run = cli(['run', file, '--no-store'])
    expect(await run.exited).toBe(1)
    const all = run.stdout() + run.stderr()
    for (const raw of ['\u001b', '\u0007', '\u009b', '\u202e']) expect(all).not.toContain(raw)
    expect(run.stdout()).toContain(String.raw`\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[3A\x1b[2Kgotcha \x9b \u202eevil`)
    expect(run.stdout()).toContain(String.raw`evil\x1b[2Jname`)
  })

  it('and on a terminal (a real pty through script(1)), where the view draws with escapes of its own', async () => {
    const file = path.join(dir, 'hostile-tty.json')
    await writeFile(file, JSON.stringify(spec))
    const command = [process.execPath, ...CLI_ENTRY, 'run', file, '--no-store']
    const shell = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
    const child = spawn('script', ['-qec', shell, '/dev/null'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, COLUMNS: '120', LINES: '30' },
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
    expect(code, out).toBe(1)
    // The view's own escapes are CSI cursor and colour codes; none of the task's may get through.
    expect(out).not.toContain('\u001b]')
    expect(out).not.toContain('\u001b[2K')
    expect(out).not.toContain('\u001b[2J')
    for (const raw of ['\u0007', '\u009b', '\u202e']) expect(out).not.toContain(raw)
    expect(out).toContain(String.raw`\x1b]52;c;cHduZWQ=`)
  })
})
