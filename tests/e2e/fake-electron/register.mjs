// `node --import ./register.mjs out/main/index.js`: the built Electron main process in plain
// Node, with `electron` resolved to ./electron.mjs (the real binary cannot be downloaded here).
import { register } from 'node:module'

register(new URL('./hooks.mjs', import.meta.url))
