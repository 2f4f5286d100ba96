// What the build in out/ is made from, and when the newest of it changed: bin/taskloop.mjs builds
// again before it runs when a source is newer than the build, and so does the tests' global setup
// (tests/helpers/build-out.ts) before any test starts.
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

export const SOURCES = ['main', 'engine', 'cluster', 'server', 'cli', 'common', 'preload', 'renderer', 'electron.vite.config.ts']

/** The newest modification time under `file` (a folder's files, node_modules left out); 0 when it does not exist. */
export function newestMtime(file) {
  let info
  try {
    info = statSync(file)
  } catch {
    return 0
  }
  if (!info.isDirectory()) return info.mtimeMs
  let newest = 0
  for (const entry of readdirSync(file)) {
    if (entry !== 'node_modules') newest = Math.max(newest, newestMtime(path.join(file, entry)))
  }
  return newest
}

/** The newest modification time of the sources under `root`. */
export const newestSource = (root, extra = []) => Math.max(...[...SOURCES, ...extra].map((s) => newestMtime(path.join(root, s))))
