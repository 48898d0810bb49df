/**
 * A small typed client of Cloudflare's v4 API, over fetch: only the endpoints `homelab external`
 * uses. Paths, parameters and shapes follow the official SDK's types (npm `cloudflare` 7.3.0:
 * resources/user/tokens, resources/zero-trust/tunnels/cloudflared, resources/zones,
 * resources/dns/records, core/pagination.d.ts), read, not guessed; docs/external.md says why the SDK
 * itself is not a dependency. The token is sent as a bearer header only and never appears in an
 * error message.
 */
import type {
  DnsRecord,
  Envelope,
  PermissionGroup,
  ApiToken as Token,
  TokenPolicy,
  TokenVerify,
  Tunnel,
  TunnelConfig,
  Zone,
} from './types.ts'

export const CLOUDFLARE_API = 'https://api.cloudflare.com/client/v4'
/** Pages asked for at once; the v4 list endpoints accept per_page up to 50 at least. */
const PER_PAGE = 50
/** More pages than any homelab account holds: a server that never ends a list is refused. */
const MAX_PAGES = 200

/** Cloudflare answered with success false, or a status that is not 2xx. */
export class CloudflareApiError extends Error {
  readonly code = 'HOMELAB_CLOUDFLARE_API'
  override name = 'CloudflareApiError'
  readonly status: number
  /** The `errors[].code` values of the envelope (e.g. 1000: invalid API token). */
  readonly codes: readonly number[]
  constructor(
    method: string,
    path: string,
    status: number,
    errors: readonly { code?: number; message?: string }[],
  ) {
    const detail = errors
      .map(
        (e) =>
          `${String(e.message ?? 'no message').slice(0, 200)}${e.code === undefined ? '' : ` (code ${e.code})`}`,
      )
      .join('; ')
    super(`Cloudflare API ${method} ${path}: ${status}${detail === '' ? '' : `: ${detail}`}`)
    this.status = status
    this.codes = errors.flatMap((e) => (typeof e.code === 'number' ? [e.code] : []))
  }
  /** The token itself is refused (not a missing permission on one resource). */
  get invalidToken(): boolean {
    return (
      this.status === 401 ||
      this.codes.includes(1000) ||
      this.codes.includes(6003) ||
      this.codes.includes(6111)
    )
  }
}

export interface CloudflareApiOptions {
  readonly token: string
  /** @default CLOUDFLARE_API (tests: a stand-in) */
  readonly baseUrl?: string
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
}

export interface CloudflareApi {
  verifyToken(): Promise<TokenVerify>
  zoneByName(accountId: string, name: string): Promise<Zone | undefined>
  tunnelsNamed(accountId: string, name: string): Promise<Tunnel[]>
  createTunnel(accountId: string, name: string, tunnelSecret: string): Promise<Tunnel>
  tunnel(accountId: string, id: string): Promise<Tunnel>
  tunnelToken(accountId: string, id: string): Promise<string>
  tunnelConfig(accountId: string, id: string): Promise<TunnelConfig | undefined>
  putTunnelConfig(accountId: string, id: string, config: TunnelConfig): Promise<void>
  dnsRecordsNamed(zoneId: string, name: string): Promise<DnsRecord[]>
  createDnsRecord(zoneId: string, record: Omit<DnsRecord, 'id'>): Promise<DnsRecord>
  updateDnsRecord(zoneId: string, id: string, record: Omit<DnsRecord, 'id'>): Promise<DnsRecord>
  tokens(): Promise<Token[]>
  createToken(token: TokenWrite): Promise<Token & { value: string }>
  updateToken(id: string, token: TokenWrite): Promise<Token>
  /** A new secret value for the token (the old one stops working). */
  rollToken(id: string): Promise<string>
  permissionGroups(): Promise<PermissionGroup[]>
}

export interface TokenWrite {
  readonly name: string
  readonly policies: readonly TokenPolicy[]
  readonly expires_on?: string
}

type Query = Record<string, string | number | boolean>

/** The most an answer may hold: a page of 50 objects is a few kB; anything far larger is refused. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/** The answer's text, refused past MAX_ANSWER_BYTES (a peer does not decide how much memory is used). */
async function boundedText(response: Response, method: string, path: string): Promise<string> {
  if (response.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) {
      // leaving the loop cancels the stream
      throw new Error(
        `Cloudflare API ${method} ${path}: the answer exceeds ${MAX_ANSWER_BYTES} bytes: refused`,
      )
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The client; every call rejects with CloudflareApiError or a connection error naming the URL. */
export function createCloudflareApi(options: CloudflareApiOptions): CloudflareApi {
  const base = (options.baseUrl ?? CLOUDFLARE_API).replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? 30_000

  async function call<T>(method: string, path: string, query?: Query, body?: unknown): Promise<Envelope<T>> {
    const qs =
      query === undefined
        ? ''
        : `?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`
    let response: Response
    try {
      response = await doFetch(`${base}${path}${qs}`, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (cause) {
      throw new Error(
        `Cannot reach the Cloudflare API at ${base} (${method} ${path}): ${(cause as Error).message}: check this machine's internet access`,
        { cause },
      )
    }
    const text = await boundedText(response, method, path)
    let envelope: Envelope<T> | undefined
    try {
      envelope = JSON.parse(text) as Envelope<T>
    } catch {
      envelope = undefined
    }
    if (!response.ok || envelope === undefined || envelope.success !== true) {
      const errors = Array.isArray(envelope?.errors) ? envelope.errors : [{ message: `not a v4 API answer` }]
      throw new CloudflareApiError(method, path, response.status, errors)
    }
    return envelope
  }
  const result = async <T>(method: string, path: string, query?: Query, body?: unknown) =>
    (await call<T>(method, path, query, body)).result

  /** Every item of a V4PagePaginationArray list: page after page until one is short, empty or the last. */
  async function all<T>(path: string, query: Query = {}): Promise<T[]> {
    const items: T[] = []
    for (let page = 1; page <= MAX_PAGES; page++) {
      const envelope = await call<T[]>('GET', path, { ...query, page, per_page: PER_PAGE })
      const got = Array.isArray(envelope.result) ? envelope.result : []
      items.push(...got)
      const pages = envelope.result_info?.total_pages
      if (got.length === 0 || (typeof pages === 'number' && page >= pages)) return items
    }
    throw new Error(`Cannot list ${path}: more than ${MAX_PAGES} pages: the server never ends the list`)
  }

  const enc = encodeURIComponent
  const tunnelPath = (account: string, id: string) => `/accounts/${enc(account)}/cfd_tunnel/${enc(id)}`
  return {
    verifyToken: () => result<TokenVerify>('GET', '/user/tokens/verify'),
    zoneByName: async (accountId, name) =>
      (await all<Zone>('/zones', { name, 'account.id': accountId })).find((z) => z.name === name),
    tunnelsNamed: async (accountId, name) =>
      (await all<Tunnel>(`/accounts/${enc(accountId)}/cfd_tunnel`, { name, is_deleted: false })).filter(
        (t) => t.name === name && (t.deleted_at ?? null) === null,
      ),
    createTunnel: (accountId, name, tunnelSecret) =>
      result<Tunnel>('POST', `/accounts/${enc(accountId)}/cfd_tunnel`, undefined, {
        name,
        config_src: 'cloudflare',
        tunnel_secret: tunnelSecret,
      }),
    tunnel: (accountId, id) => result<Tunnel>('GET', tunnelPath(accountId, id)),
    tunnelToken: (accountId, id) => result<string>('GET', `${tunnelPath(accountId, id)}/token`),
    tunnelConfig: async (accountId, id) =>
      (await result<{ config?: TunnelConfig | null }>('GET', `${tunnelPath(accountId, id)}/configurations`))
        .config ?? undefined,
    putTunnelConfig: async (accountId, id, config) => {
      await result('PUT', `${tunnelPath(accountId, id)}/configurations`, undefined, { config })
    },
    dnsRecordsNamed: (zoneId, name) =>
      all<DnsRecord>(`/zones/${enc(zoneId)}/dns_records`, { 'name.exact': name }),
    createDnsRecord: (zoneId, record) =>
      result<DnsRecord>('POST', `/zones/${enc(zoneId)}/dns_records`, undefined, record),
    updateDnsRecord: (zoneId, id, record) =>
      result<DnsRecord>('PUT', `/zones/${enc(zoneId)}/dns_records/${enc(id)}`, undefined, record),
    tokens: () => all<Token>('/user/tokens'),
    createToken: (token) => result<Token & { value: string }>('POST', '/user/tokens', undefined, token),
    updateToken: (id, token) => result<Token>('PUT', `/user/tokens/${enc(id)}`, undefined, token),
    rollToken: (id) => result<string>('PUT', `/user/tokens/${enc(id)}/value`),
    permissionGroups: () => result<PermissionGroup[]>('GET', '/user/tokens/permission_groups'),
  }
}
