// Vitest setup file: each test file gets a throwaway data folder of its own for the CLIs it starts
// (never the real ~/.local/share), so files running side by side never share a store or its lock.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

process.env.XDG_DATA_HOME = mkdtempSync(path.join(os.tmpdir(), 'taskloop-test-data-'))
