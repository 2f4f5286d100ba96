// The headless API: one route per operation of common/operations.ts, derived from its HTTP binding
// (docs/ARCHITECTURE.md, "How an operation travels"). A route decodes the request (path id, URL parameters,
// JSON body) into the operation's arguments, calls the engine, whose parse validates them, and
// answers JSON.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { OPERATIONS, OPERATION_NAMES, callOperation, type HttpArg, type OperationName } from '../common/operations'
import { TaskloopError } from '../common/types'
import type { EngineHandle } from '../engine/handle'
import { timed } from '../engine/costs'
import { HttpError, readJson, sendJson } from './http'

interface Reply {
  status: number
  body: unknown
}

type Handler = (ctx: { req: IncomingMessage; url: URL; id: string }) => Promise<Reply>

interface Route {
  pattern: RegExp
  methods: Record<string, Handler>
}

/** `/api/tasks/:id/cancel` → /^\/api\/tasks\/([^/]+)\/cancel$/ */
const patternOf = (path: string): RegExp =>
  new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&').replace(':id', '([^/]+)')}$`)

/** A body of named fields is a JSON object holding only those (an empty body has none). */
function bodyFields(body: unknown, fields: string[]): Record<string, unknown> {
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw new TaskloopError('invalid', 'body: expected a JSON object', 'body')
  const unknown = Object.keys(body).find((key) => !fields.includes(key))
  if (unknown !== undefined) throw new TaskloopError('invalid', `${unknown}: unknown field "${unknown}"`, unknown)
  return body as Record<string, unknown>
}

/** URL parameters as the declared types; an empty one is absent. */
function queryObject(url: URL, fields: Record<string, 'string' | 'number'>): Record<string, unknown> {
  const query: Record<string, unknown> = {}
  for (const [key, type] of Object.entries(fields)) {
    const value = url.searchParams.get(key)
    if (value !== null && value !== '') query[key] = type === 'number' ? Number(value) : value
  }
  return query
}

function handlerOf(engine: EngineHandle, name: OperationName): Handler {
  const { args, status = 200, reply } = OPERATIONS[name].http
  const fields = args.flatMap((a) => (typeof a === 'object' && 'field' in a ? [a.field] : []))
  const decode = (arg: HttpArg, ctx: { url: URL; id: string; body: unknown }): unknown => {
    if (arg === 'path') return ctx.id
    if (arg === 'body') return ctx.body
    if ('field' in arg) return bodyFields(ctx.body, fields)[arg.field]
    return queryObject(ctx.url, arg.query)
  }
  const readsBody = args.some((a) => a === 'body' || (typeof a === 'object' && 'field' in a))
  return async ({ req, url, id }) => {
    const body = readsBody ? await readJson(req) : undefined
    const values = args.map((arg) => decode(arg, { url, id, body }))
    const value = await callOperation(engine, name, values)
    return { status, body: reply ? { [reply]: value } : (value ?? {}) }
  }
}

export function apiRoutes(engine: EngineHandle): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  const routes = new Map<string, Route>()
  for (const name of OPERATION_NAMES) {
    const { method, path } = OPERATIONS[name].http
    const route = routes.get(path) ?? { pattern: patternOf(path), methods: {} }
    route.methods[method] = handlerOf(engine, name)
    routes.set(path, route)
  }
  routes.set('/api/events', {
    pattern: /^\/api\/events$/,
    methods: {
      GET: async () => {
        throw new HttpError(426, '/api/events is a WebSocket: send an Upgrade request')
      },
    },
  })

  return async (req, res, url) => {
    for (const route of routes.values()) {
      const match = route.pattern.exec(url.pathname)
      if (!match) continue
      const handler = route.methods[req.method ?? 'GET']
      if (!handler) {
        res.setHeader('Allow', Object.keys(route.methods).join(', '))
        return sendJson(res, 405, { code: 'invalid', error: `${req.method} not allowed on ${url.pathname}` })
      }
      let id = ''
      if (match[1] !== undefined) {
        try {
          id = decodeURIComponent(match[1])
        } catch {
          throw new HttpError(400, 'malformed task id in the path')
        }
      }
      const reply = await handler({ req, url, id })
      return timed('host: HTTP reply', () => sendJson(res, reply.status, reply.body))
    }
    sendJson(res, 404, { code: 'not-found', error: `no such route: ${req.method} ${url.pathname}` })
  }
}
