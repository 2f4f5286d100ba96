// `node --import ./tests/helpers/ts-entry-register.mjs file.ts`: tsx plus `?modulePath` support (benchmarks, scripts).
import { register as registerTsx } from 'tsx/esm/api'
import { register } from 'node:module'

registerTsx()
register(new URL('./ts-entry-hooks.mjs', import.meta.url))
