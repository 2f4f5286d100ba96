// Job modules written to a temp folder, as a user would write them.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const jobsDir = mkdtempSync(path.join(os.tmpdir(), 'taskloop-jobs-'))

const write = (name: string, text: string): string => {
  const file = path.join(jobsDir, name)
  writeFileSync(file, text)
  return file
}

export const modules = {
  good: write(
    'good.mjs',
    `export default async function (params, ctx) {
  for (let i = 1; i <= 3; i++) {
    await new Promise((r) => setTimeout(r, 20))
    ctx.progress(i / 3, 'part ' + i)
    ctx.log('did part ' + i)
  }
  return { twice: params.n * 2, where: ctx.executor, inputs: ctx.inputs }
}
export async function waitForCancel(params, ctx) {
  await new Promise((resolve, reject) => {
    ctx.signal.addEventListener('abort', () => reject(new Error('saw the abort in ' + ctx.executor)))
    ctx.progress(0, 'listening')
  })
}
export async function chatty() {
  console.log('to stdout')
  console.error('to stderr')
  await new Promise((r) => setTimeout(r, 50))
  return 'ok'
}
export async function topLevelThrow() {
  setTimeout(() => { throw new Error('boom at top level') }, 10)
  await new Promise((r) => setTimeout(r, 5000))
}
export const notAFunction = 42
`,
  ),
  syntax: write('syntax.mjs', 'export default async function ( {\n'),
  throws: write('throws.mjs', "throw new Error('refusing to load')\nexport default () => 1\n"),
}
