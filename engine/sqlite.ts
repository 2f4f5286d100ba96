// libsql (SQLite, prebuilt N-API: no rebuild for Electron), loaded for the task store and the
// data folder's lock.
import { createRequire } from 'node:module'

// Not named `require`: the bundler declares its own in ESM chunks.
const loadCjs = createRequire(import.meta.url)

export interface Statement {
  run(...args: unknown[]): unknown
  all(...args: unknown[]): Record<string, unknown>[]
  get(...args: unknown[]): Record<string, unknown> | undefined
}
export interface Database {
  exec(sql: string): void
  pragma(sql: string): unknown
  prepare(sql: string): Statement
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void
  close(): void
}

/** libsql's loader can fail when two threads load it at the same instant; one retry settles it. */
export function openDatabase(file: string): Database {
  let Ctor: new (file: string) => Database
  try {
    Ctor = loadCjs('libsql')
  } catch {
    Ctor = loadCjs('libsql')
  }
  return new Ctor(file)
}

/** SQLite's result code name (SQLITE_BUSY, SQLITE_NOTADB …) of an error libsql threw, if any. */
export const sqliteCode = (e: unknown): string => String((e as { code?: unknown } | null)?.code ?? '')
