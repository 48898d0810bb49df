/**
 * A stand-in Cloudflare v4 API server for tests: the real API is on the internet, which tests do
 * not reach. It serves only the endpoints `homelab external` uses, with the shapes of the official
 * SDK's types (npm `cloudflare` 7.3.0: the envelope {success, errors, messages, result,
 * result_info} of core/pagination.d.ts and shared.d.ts ErrorData; the paths of
 * resources/user/tokens, resources/zero-trust/tunnels/cloudflared, resources/zones,
 * resources/dns/records). Lists are paged (page, per_page up to 50, result_info with
 * total_pages). Errors carry Cloudflare's codes: 1000 invalid API token (401), 9109 unauthorized
 * (403), 7003 no route (404), 1004 bad request (400). State is in memory; nothing changes with
 * time; the tunnel's connection is set by the test. Authorization headers are never logged.
 */
import { randomBytes } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StandinToken {
  id: string
  name: string
  value: string
  status: 'active' | 'disabled' | 'expired'
  expires_on?: string
  issued_on: string
  policies: {
    id: string
    effect: 'allow' | 'deny'
    permission_groups: { id: string; name?: string }[]
    resources: Record<string, string>
  }[]
  /** The user's own token may call every endpoint; a scoped token only verify. */
  admin: boolean
}
export interface StandinTunnel {
  id: string
  name: string
  account_tag: string
  config_src: 'local' | 'cloudflare'
  created_at: string
  deleted_at: string | null
  status: 'inactive' | 'degraded' | 'healthy' | 'down'
  connections: { id: string; colo_name: string; is_pending_reconnect: boolean }[]
  secret: string
  config?: unknown
}
export interface StandinRecord {
  id: string
  zone_id: string
  name: string
  type: string
  content: string
  proxied: boolean
  ttl: number
  comment: string | null
}

export interface CloudflareStandinState {
  readonly accountId: string
  readonly zone: { id: string; name: string }
  tokens: StandinToken[]
  tunnels: StandinTunnel[]
  records: StandinRecord[]
}

export interface CloudflareStandin {
  /** The API base, `http://127.0.0.1:PORT/client/v4` (CLOUDFLARE_BASE_URL). */
  readonly url: string
  readonly state: CloudflareStandinState
  /** Every request: method, path with query, status (no header, no body). */
  readonly requests: { method: string; path: string; status: number }[]
  /** The changes made (methods other than GET). */
  writes(): { method: string; path: string; status: number }[]
  /** Stands in for cloudflared connecting (or not) to the tunnel. */
  setConnected(tunnelId: string, connected: boolean): void
  close(): Promise<void>
}

export const PERMISSION_GROUPS = [
  { id: 'c8fed203ed3043cba015a93ad1616f1f', name: 'Zone Read', scopes: ['com.cloudflare.api.account.zone'] },
  { id: '4755a26eedb94da69e1066d98aa820be', name: 'DNS Write', scopes: ['com.cloudflare.api.account.zone'] },
  { id: '82e64a83756745bbbb1c9c2701bf816b', name: 'DNS Read', scopes: ['com.cloudflare.api.account.zone'] },
  {
    id: 'c07321b023e944ff818fec44d8203567',
    name: 'Cloudflare Tunnel Write',
    scopes: ['com.cloudflare.api.account'],
  },
]

const MAX_BODY = 64 * 1024
const hex = (n: number) => randomBytes(n).toString('hex')
const uuid = () => {
  const h = hex(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

class ApiFailure extends Error {
  readonly status: number
  readonly errorCode: number
  constructor(status: number, errorCode: number, message: string) {
    super(message)
    this.status = status
    this.errorCode = errorCode
  }
}

interface Answer {
  result: unknown
  result_info?: Record<string, number>
}

/** The list of items in the page asked for, with result_info as the v4 API writes it. */
function paged(items: readonly unknown[], query: URLSearchParams): Answer {
  const perPage = Math.min(Math.max(Number(query.get('per_page') ?? 20) || 20, 5), 50)
  const page = Math.max(Number(query.get('page') ?? 1) || 1, 1)
  const slice = items.slice((page - 1) * perPage, page * perPage)
  return {
    result: slice,
    result_info: {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(Math.ceil(items.length / perPage), 1),
    },
  }
}

const publicToken = ({ value: _v, admin: _a, ...t }: StandinToken) => t
const publicTunnel = ({ secret: _s, config: _c, ...t }: StandinTunnel) => t

/** Starts the stand-in with the user's token (`adminToken`) and one zone in one account. */
export async function startCloudflareStandin(options: {
  adminToken: string
  accountId: string
  zone: string
}): Promise<CloudflareStandin> {
  const state: CloudflareStandinState = {
    accountId: options.accountId,
    zone: { id: hex(16), name: options.zone },
    tokens: [
      {
        id: hex(16),
        name: 'the user token',
        value: options.adminToken,
        status: 'active',
        issued_on: now(),
        policies: [],
        admin: true,
      },
    ],
    tunnels: [],
    records: [],
  }
  const requests: { method: string; path: string; status: number }[] = []

  function route(
    method: string,
    parts: string[],
    query: URLSearchParams,
    body: Record<string, unknown>,
    caller: StandinToken,
  ): Answer {
    const [first, second, third, fourth] = parts
    let key = `${method} /${parts.join('/')}`
    const tokenId =
      first === 'user' && second === 'tokens' && third !== 'verify' && third !== 'permission_groups'
        ? third
        : undefined
    if (tokenId !== undefined) key = `${method} /user/tokens/:${fourth === undefined ? '' : `/${fourth}`}`
    if (!caller.admin && key !== 'GET /user/tokens/verify')
      throw new ApiFailure(403, 9109, 'Unauthorized to access requested resource')
    switch (key) {
      case 'GET /user/tokens/verify':
        return {
          result: {
            id: caller.id,
            status: caller.status,
            ...(caller.expires_on ? { expires_on: caller.expires_on } : {}),
          },
        }
      case 'GET /user/tokens/permission_groups':
        return { result: PERMISSION_GROUPS }
      case 'GET /user/tokens':
        return paged(state.tokens.map(publicToken), query)
      case 'POST /user/tokens': {
        if (typeof body.name !== 'string' || !Array.isArray(body.policies))
          throw new ApiFailure(400, 1004, 'name and policies are required')
        const token: StandinToken = {
          id: hex(16),
          name: body.name,
          value: randomBytes(30).toString('base64url'),
          status: 'active',
          issued_on: now(),
          policies: (body.policies as StandinToken['policies']).map((p) => ({ ...p, id: hex(16) })),
          admin: false,
          ...(typeof body.expires_on === 'string' ? { expires_on: body.expires_on } : {}),
        }
        state.tokens.push(token)
        return { result: { ...publicToken(token), value: token.value } }
      }
      case 'PUT /user/tokens/:': {
        const token = found(
          state.tokens.find((t) => t.id === tokenId),
          'token',
        )
        if (typeof body.name !== 'string' || !Array.isArray(body.policies))
          throw new ApiFailure(400, 1004, 'name and policies are required')
        token.name = body.name
        token.policies = body.policies as StandinToken['policies']
        if (typeof body.expires_on === 'string') token.expires_on = body.expires_on
        if (token.status === 'expired' && typeof body.expires_on === 'string') token.status = 'active'
        return { result: publicToken(token) }
      }
      case 'PUT /user/tokens/:/value': {
        const token = found(
          state.tokens.find((t) => t.id === tokenId),
          'token',
        )
        token.value = randomBytes(30).toString('base64url')
        return { result: token.value }
      }
      case 'GET /zones': {
        const zones = [
          { id: state.zone.id, name: state.zone.name, status: 'active', account: { id: state.accountId } },
        ]
        return paged(
          zones.filter(
            (z) =>
              (query.get('name') ?? z.name) === z.name &&
              (query.get('account.id') ?? state.accountId) === state.accountId,
          ),
          query,
        )
      }
    }
    if (first === 'accounts') {
      if (second !== state.accountId)
        throw new ApiFailure(403, 9109, 'Unauthorized to access requested resource')
      return tunnels(method, parts.slice(2), query, body)
    }
    if (first === 'zones' && second === state.zone.id && third === 'dns_records')
      return records(method, fourth, query, body)
    throw new ApiFailure(
      404,
      7003,
      `Could not route to /${parts.join('/')}, perhaps your object identifier is invalid?`,
    )
  }

  function found<T>(item: T | undefined, what: string): T {
    if (item === undefined) throw new ApiFailure(404, 1003, `${what} not found`)
    return item
  }

  function tunnels(
    method: string,
    parts: string[],
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): Answer {
    if (parts[0] !== 'cfd_tunnel') throw new ApiFailure(404, 7003, 'Could not route')
    const [, id, sub] = parts
    if (id === undefined && method === 'GET') {
      const live = state.tunnels.filter(
        (t) =>
          (query.get('name') ?? t.name) === t.name &&
          !(query.get('is_deleted') === 'false' && t.deleted_at !== null),
      )
      return paged(live.map(publicTunnel), query)
    }
    if (id === undefined && method === 'POST') {
      if (typeof body.name !== 'string' || body.name === '')
        throw new ApiFailure(400, 1004, 'name is required')
      if (state.tunnels.some((t) => t.name === body.name && t.deleted_at === null))
        throw new ApiFailure(409, 1013, 'You already have a tunnel with this name')
      const tunnel: StandinTunnel = {
        id: uuid(),
        name: body.name,
        account_tag: state.accountId,
        config_src: body.config_src === 'cloudflare' ? 'cloudflare' : 'local',
        created_at: now(),
        deleted_at: null,
        status: 'inactive',
        connections: [],
        secret:
          typeof body.tunnel_secret === 'string' ? body.tunnel_secret : randomBytes(32).toString('base64'),
      }
      state.tunnels.push(tunnel)
      return { result: publicTunnel(tunnel) }
    }
    const tunnel = found(
      state.tunnels.find((t) => t.id === id),
      'tunnel',
    )
    if (method === 'GET' && sub === undefined) return { result: publicTunnel(tunnel) }
    // The token cloudflared runs with: base64 of {"a": account, "t": tunnel id, "s": secret}.
    if (method === 'GET' && sub === 'token')
      return {
        result: Buffer.from(JSON.stringify({ a: state.accountId, t: tunnel.id, s: tunnel.secret })).toString(
          'base64',
        ),
      }
    if (sub === 'configurations' && method === 'GET')
      return {
        result: {
          tunnel_id: tunnel.id,
          account_id: state.accountId,
          source: 'cloudflare',
          config: tunnel.config ?? null,
        },
      }
    if (sub === 'configurations' && method === 'PUT') {
      tunnel.config = body.config
      return {
        result: {
          tunnel_id: tunnel.id,
          account_id: state.accountId,
          source: 'cloudflare',
          config: tunnel.config,
        },
      }
    }
    throw new ApiFailure(404, 7003, 'Could not route')
  }

  function records(
    method: string,
    id: string | undefined,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): Answer {
    if (id === undefined && method === 'GET') {
      const name = query.get('name.exact') ?? query.get('name')
      return paged(
        state.records.filter((r) => name === null || r.name === name),
        query,
      )
    }
    const write = (): Omit<StandinRecord, 'id' | 'zone_id'> => {
      if (typeof body.name !== 'string' || typeof body.type !== 'string' || typeof body.content !== 'string')
        throw new ApiFailure(400, 1004, 'DNS Validation Error: name, type and content are required')
      return {
        name: body.name,
        type: body.type,
        content: body.content,
        proxied: body.proxied === true,
        ttl: typeof body.ttl === 'number' ? body.ttl : 1,
        comment: typeof body.comment === 'string' ? body.comment : null,
      }
    }
    if (id === undefined && method === 'POST') {
      const record = { id: hex(16), zone_id: state.zone.id, ...write() }
      state.records.push(record)
      return { result: record }
    }
    const record = found(
      state.records.find((r) => r.id === id),
      'record',
    )
    if (method === 'PUT') {
      Object.assign(record, write())
      return { result: record }
    }
    throw new ApiFailure(404, 7003, 'Could not route')
  }

  const send = (res: ServerResponse, status: number, payload: object) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(payload))
  }

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://standin')
    const method = req.method ?? 'GET'
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size <= MAX_BODY) chunks.push(c)
    })
    req.on('end', () => {
      let status = 200
      try {
        if (size > MAX_BODY) throw new ApiFailure(413, 1004, 'request body too large')
        if (!url.pathname.startsWith('/client/v4/')) throw new ApiFailure(404, 7003, 'Could not route')
        const auth = req.headers.authorization ?? ''
        const caller = state.tokens.find((t) => `Bearer ${t.value}` === auth && t.status !== 'disabled')
        if (caller === undefined) throw new ApiFailure(401, 1000, 'Invalid API Token')
        const text = Buffer.concat(chunks).toString('utf8')
        const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
        const parts = url.pathname
          .slice('/client/v4/'.length)
          .split('/')
          .filter(Boolean)
          .map(decodeURIComponent)
        const answer = route(method, parts, url.searchParams, body, caller)
        send(res, 200, { success: true, errors: [], messages: [], ...answer })
      } catch (error) {
        const failure =
          error instanceof ApiFailure ? error : new ApiFailure(400, 1004, (error as Error).message)
        status = failure.status
        send(res, status, {
          success: false,
          errors: [{ code: failure.errorCode, message: failure.message }],
          messages: [],
          result: null,
        })
      }
      requests.push({ method, path: `${url.pathname}${url.search}`, status })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    state,
    requests,
    writes: () => requests.filter((r) => r.method !== 'GET'),
    setConnected(tunnelId, connected) {
      const tunnel = found(
        state.tunnels.find((t) => t.id === tunnelId),
        'tunnel',
      )
      tunnel.status = connected ? 'healthy' : 'inactive'
      tunnel.connections = connected
        ? [{ id: uuid(), colo_name: 'standin', is_pending_reconnect: false }]
        : []
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
