// The headless API (ARCHITECTURE "Headless API", plus /api/limits, /api/quit, /api/snapshot, and the
// host-only batch, pause/resume and group-limit calls of EngineHandle):
// each route validates what came over the wire, calls the engine, and answers JSON.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { parseGroupLimit, parseHistoryQuery, parseListQuery, parseLimits, parseQuitOptions, parseSubmitSpec, parseTaskId, parseWith } from '../common/schema'
import type { ListQuery } from '../common/types'
import type { EngineHandle } from '../engine/handle'
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

const ACCEPTED: Reply = { status: 202, body: {} }

const limitsBodySchema = z.strictObject({ limits: z.unknown() })

function listQuery(url: URL): ListQuery {
  const state = url.searchParams.get('state')
  const limit = url.searchParams.get('limit')
  return parseListQuery({
    ...(state !== null && state !== '' ? { state } : {}),
    ...(limit !== null && limit !== '' ? { limit: Number(limit) } : {}),
  })
}

export function apiRoutes(engine: EngineHandle): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  const routes: Route[] = [
    {
      pattern: /^\/api\/tasks$/,
      methods: {
        POST: async ({ req }) => ({ status: 201, body: await engine.submit(parseSubmitSpec(await readJson(req))) }),
        GET: async ({ url }) => ({ status: 200, body: { tasks: await engine.list(listQuery(url)) } }),
      },
    },
    {
      pattern: /^\/api\/history$/,
      methods: {
        GET: async ({ url }) => {
          const q = (name: string) => url.searchParams.get(name) || undefined
          const [state, before, limit] = [q('state'), q('before'), q('limit')]
          const query = parseHistoryQuery({
            ...(state ? { state } : {}),
            ...(before ? { before } : {}),
            ...(limit ? { limit: Number(limit) } : {}),
          })
          return { status: 200, body: { tasks: await engine.history(query) } }
        },
      },
    },
    {
      pattern: /^\/api\/tasks\/([^/]+)$/,
      methods: { GET: async ({ id }) => ({ status: 200, body: await engine.get(id) }) },
    },
    {
      pattern: /^\/api\/tasks\/([^/]+)\/cancel$/,
      methods: { POST: async ({ id }) => (await engine.cancel(id), ACCEPTED) },
    },
    {
      pattern: /^\/api\/tasks\/([^/]+)\/retry$/,
      methods: { POST: async ({ id }) => ({ status: 201, body: await engine.retry(id) }) },
    },
    {
      pattern: /^\/api\/cancel-all$/,
      methods: { POST: async () => (await engine.cancelAll(), ACCEPTED) },
    },
    {
      pattern: /^\/api\/stats$/,
      methods: { GET: async () => ({ status: 200, body: await engine.stats() }) },
    },
    {
      pattern: /^\/api\/snapshot$/,
      methods: { GET: async () => ({ status: 200, body: await engine.snapshot() }) },
    },
    {
      pattern: /^\/api\/limits$/,
      methods: {
        POST: async ({ req }) => {
          const body = parseWith<{ limits: unknown }>(limitsBodySchema, (await readJson(req)) ?? {}, 'body')
          return { status: 200, body: { limits: await engine.setLimits(parseLimits(body.limits)) } }
        },
      },
    },
    // Beyond the UI's API, what a host can do with the engine (EngineHandle), for scripts:
    {
      pattern: /^\/api\/batches\/([^/]+)$/,
      methods: { GET: async ({ id }) => ({ status: 200, body: await engine.batch(id) }) },
    },
    {
      pattern: /^\/api\/pause$/,
      methods: { POST: async () => (await engine.pause(), ACCEPTED) },
    },
    {
      pattern: /^\/api\/resume$/,
      methods: { POST: async () => (await engine.resume(), ACCEPTED) },
    },
    {
      pattern: /^\/api\/group-limits$/,
      methods: {
        POST: async ({ req }) => {
          const { group, limit } = parseGroupLimit((await readJson(req)) ?? {})
          return { status: 200, body: { groupLimits: await engine.setGroupLimit(group, limit) } }
        },
      },
    },
    {
      pattern: /^\/api\/quit$/,
      // Answered before the host starts shutting down, which closes this very server.
      // Body (optional): {"pending": "keep" | "cancel"}.
      methods: {
        POST: async ({ req }) => {
          const options = parseQuitOptions(await readJson(req))
          setImmediate(() => void engine.quit(options).catch(() => {}))
          return ACCEPTED
        },
      },
    },
    {
      pattern: /^\/api\/events$/,
      methods: {
        GET: async () => {
          throw new HttpError(426, '/api/events is a WebSocket: send an Upgrade request')
        },
      },
    },
  ]

  return async (req, res, url) => {
    for (const route of routes) {
      const match = route.pattern.exec(url.pathname)
      if (!match) continue
      const handler = route.methods[req.method ?? 'GET']
      if (!handler) {
        res.setHeader('Allow', Object.keys(route.methods).join(', '))
        return sendJson(res, 405, { code: 'invalid', error: `${req.method} not allowed on ${url.pathname}` })
      }
      let id = ''
      if (match[1] !== undefined) {
        let raw: string
        try {
          raw = decodeURIComponent(match[1])
        } catch {
          throw new HttpError(400, 'malformed task id in the path')
        }
        id = parseTaskId(raw)
      }
      const reply = await handler({ req, url, id })
      return sendJson(res, reply.status, reply.body)
    }
    sendJson(res, 404, { code: 'not-found', error: `no such route: ${req.method} ${url.pathname}` })
  }
}
