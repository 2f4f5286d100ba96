// Which file of the built renderer a URL path names, and its type: shared by the headless
// server (server/static.ts) and the Electron shell's app:// protocol (main/app-protocol.ts), the
// one server/ module the Electron main process may import (eslint.config.js).
import { realpath, stat } from 'node:fs/promises'
import path from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
}

export const contentType = (file: string): string => TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'

/**
 * The file a URL path names inside `root` (`/` is index.html), or null when there is none or it
 * would leave the folder (`..`, encoded dots, NUL, symlinks pointing out). Shared with the Electron
 * shell's app:// protocol.
 */
export async function resolveStaticFile(root: string, pathname: string): Promise<string | null> {
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return null
  }
  if (decoded.includes('\0')) return null
  const relative = decoded === '/' || decoded === '' ? 'index.html' : decoded.replace(/^\/+/, '')
  const candidate = path.resolve(root, relative)
  try {
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(candidate)])
    // Symlinks included: the file must really live inside the folder.
    if (realFile !== realRoot && !realFile.startsWith(realRoot + path.sep)) return null
    const info = await stat(realFile)
    return info.isFile() ? realFile : null
  } catch {
    return null
  }
}
