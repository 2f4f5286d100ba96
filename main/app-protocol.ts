// The window's own origin, app://taskloop: the built renderer served by a custom protocol rather
// than file://, so the page is not a file: page (which may read other local files) and IPC can
// tell it apart from any other page by its origin.
import { readFile } from 'node:fs/promises'
import type { Protocol } from 'electron'
import { contentType, resolveStaticFile } from '../server/files'

export const APP_SCHEME = 'app'
export const APP_HOST = 'taskloop'
export const APP_PAGE_URL = `${APP_SCHEME}://${APP_HOST}/index.html`

/** Before `app` is ready: a standard, secure scheme, so the page gets an origin and 'self' means it. */
export function registerAppScheme(protocol: Pick<Protocol, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }])
}

/** What app://taskloop/<path> answers: a file of `root` with its type and the CSP, or 404. */
export async function appResponse(root: string, requestUrl: string, csp: string): Promise<Response> {
  const url = new URL(requestUrl)
  const file = url.host === APP_HOST ? await resolveStaticFile(root, url.pathname) : null
  if (file === null) return new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain' } })
  return new Response(await readFile(file), {
    status: 200,
    headers: { 'Content-Type': contentType(file), 'Content-Security-Policy': csp, 'X-Content-Type-Options': 'nosniff' },
  })
}

/** Once `app` is ready: serve the renderer folder on app://taskloop. */
export function serveApp(protocol: Pick<Protocol, 'handle'>, root: string, csp: string): void {
  protocol.handle(APP_SCHEME, (request) => appResponse(root, request.url, csp))
}
