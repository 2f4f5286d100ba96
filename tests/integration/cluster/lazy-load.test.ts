// Without --redis nothing of the cluster is loaded: a module-resolve hook in the real `taskloop
// serve` process records every bullmq/ioredis module it resolves. With --redis (the control) it does.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FROM_SOURCE, useCli } from '../../helpers/cli'
import { waitFor } from '../../helpers/engine'
import { redisMissing, startRedis, type RedisServer } from '../../helpers/redis'

const dir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-lazy-'))
const hooks = path.join(dir, 'hooks.mjs')
writeFileSync(
  hooks,
  `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  if (/node_modules\\/(bullmq|ioredis)\\//.test(r.url)) appendFileSync(process.env.LAZY_OUT, r.url + '\\n')
  return r
}`,
)
const register = path.join(dir, 'register.mjs')
writeFileSync(register, `import { register } from 'node:module'\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)})\n`)

const missing = redisMissing()
if (missing) console.warn(`the --redis control is skipped: ${missing}`)

describe('taskloop serve without --redis', () => {
  const cli = useCli()
  let redis: RedisServer | null = null
  beforeAll(async () => {
    if (!missing) redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  const started = async (out: string, extra: string[]) => {
    const serve = cli(['serve', '--port', '0', '--no-auth', '--no-store', ...extra], {
      entry: ['--import', register, ...FROM_SOURCE],
      env: { LAZY_OUT: out },
    })
    await waitFor('the URL line', async () => /Taskloop UI: /.test(serve.stdout()), 30_000)
    return serve
  }

  it('loads neither bullmq nor ioredis', async () => {
    const out = path.join(dir, 'plain.txt')
    await started(out, [])
    expect(existsSync(out) ? readFileSync(out, 'utf8') : '').toBe('')
  }, 60_000)

  it.skipIf(missing)('loads them with --redis (the hook sees what it should)', async () => {
    const out = path.join(dir, 'cluster.txt')
    await started(out, ['--redis', redis!.url])
    expect(readFileSync(out, 'utf8')).toMatch(/node_modules\/bullmq\//)
  }, 60_000)
})
