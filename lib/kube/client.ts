/**
 * A minimal Kubernetes API client on node:https: JSON requests with the kubeconfig's CA,
 * client certificate and key or bearer token, server-side apply, and discovery of the
 * resources (built-in or from CRDs) so that manifests of any kind can be applied.
 * No kubectl, no helm, no client library.
 */
import http from 'node:http'
import https from 'node:https'
import type { KubeConfig } from './kubeconfig.ts'

export const KUBE_DEFAULTS = { timeoutMs: 30_000 } as const

export interface RequestOptions {
  /** JSON-encoded unless a string or Buffer. */
  body?: unknown
  /** @default 'application/json' when there is a body */
  contentType?: string
  query?: Record<string, string>
  timeoutMs?: number
  /** More headers (e.g. one a service behind the API server's service proxy reads); never the ones the client sets. */
  headers?: Record<string, string>
}

export interface KubeStatus {
  kind?: string
  status?: string
  reason?: string
  message?: string
  code?: number
}

export class KubeApiError extends Error {
  readonly code = 'HOMELAB_KUBE_API'
  override name = 'KubeApiError'
  readonly status: number
  readonly reason: string
  readonly method: string
  readonly path: string
  readonly body: unknown
  constructor(method: string, path: string, status: number, body: unknown) {
    const s = (typeof body === 'object' && body !== null ? body : {}) as KubeStatus
    const reason = s.reason ?? http.STATUS_CODES[status]?.replaceAll(' ', '') ?? 'Unknown'
    const detail = s.message ?? (typeof body === 'string' ? body.trim().slice(0, 200) : '')
    super(`Kubernetes API ${method} ${path}: ${status} ${reason}${detail ? `: ${detail}` : ''}`)
    this.status = status
    this.reason = reason
    this.method = method
    this.path = path
    this.body = body
  }
}

export class KubeConnectError extends Error {
  readonly code = 'HOMELAB_KUBE_CONNECT'
  override name = 'KubeConnectError'
  readonly server: string
  constructor(server: string, method: string, path: string, cause: Error) {
    const code = (cause as NodeJS.ErrnoException).code
    super(
      `Cannot reach the Kubernetes API at ${server} (${method} ${path}): ${code ?? cause.message}: ` +
        `check that the server is up and reachable on that address and port, and that the kubeconfig's ` +
        `certificates belong to this cluster`,
      { cause },
    )
    this.server = server
  }
}

export interface ResourceInfo {
  /** `/api/v1` or `/apis/<group>/<version>`. */
  prefix: string
  plural: string
  namespaced: boolean
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; [key: string]: unknown }
  [key: string]: unknown
}

export interface KubeList<T> {
  apiVersion?: string
  kind?: string
  metadata?: { resourceVersion?: string; continue?: string }
  items: T[]
}

export type PatchType = 'merge' | 'strategic' | 'json'

const PATCH_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
}

export interface KubeClient {
  readonly server: string
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>
  /** The object, or undefined when the API answers 404. */
  get<T>(path: string): Promise<T | undefined>
  list<T>(path: string, query?: Record<string, string>): Promise<KubeList<T>>
  /** True when deleted, false when it was not there. */
  delete(path: string, query?: Record<string, string>): Promise<boolean>
  patch<T>(path: string, body: unknown, type: PatchType): Promise<T>
  /** Server-side apply: creates or updates the fields owned by `fieldManager`. */
  apply<T>(path: string, object: unknown, options: { fieldManager: string; force?: boolean }): Promise<T>
  resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo>
  /** Forget discovered resources, after CRDs were created. */
  invalidateDiscovery(): void
  /** `/api/v1/namespaces/ns/pods/name`, `/apis/g/v/...`; the collection path when the object has no name. */
  objectPath(obj: {
    apiVersion: string
    kind: string
    metadata?: { name?: string; namespace?: string }
  }): Promise<string>
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[]
}

/** The bytes and content type a request sends: JSON-encoded unless a string or Buffer. */
export function encodeBody(
  body: unknown,
  contentType: string | undefined,
): { payload: Buffer | undefined; contentType: string | undefined } {
  if (body === undefined) return { payload: undefined, contentType }
  const payload = Buffer.isBuffer(body)
    ? body
    : typeof body === 'string'
      ? Buffer.from(body)
      : Buffer.from(JSON.stringify(body))
  return { payload, contentType: contentType ?? 'application/json' }
}

/** The headers of a request. */
export function requestHeaders(
  token: string | undefined,
  contentType: string | undefined,
  payload: Buffer | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  const headers: Record<string, string> = { ...extra, accept: 'application/json' }
  if (contentType) headers['content-type'] = contentType
  if (payload) headers['content-length'] = String(payload.length)
  if (token) headers.authorization = `Bearer ${token}`
  return headers
}

/** An answer's body: parsed when JSON (else the text), undefined when empty. */
export function responseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined
  if (!(contentType ?? '').includes('json')) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The path of an object (or its collection, without a name) for a discovered resource. */
export function pathFor(r: ResourceInfo, obj: { metadata?: { name?: string; namespace?: string } }): string {
  let path = r.prefix
  if (r.namespaced) path += `/namespaces/${encodeURIComponent(obj.metadata?.namespace ?? 'default')}`
  path += `/${r.plural}`
  if (obj.metadata?.name) path += `/${encodeURIComponent(obj.metadata.name)}`
  return path
}

type Request = <T>(method: string, path: string, options?: RequestOptions) => Promise<T>

/** One HTTP(S) request to the API server; rejects with KubeApiError (not 2xx) or KubeConnectError. */
function _requester(config: KubeConfig, defaultTimeout: number): Request {
  const base = new URL(config.server)
  const secure = base.protocol === 'https:'
  const agent = secure
    ? new https.Agent({
        keepAlive: true,
        ca: config.ca,
        cert: config.cert,
        key: config.key,
        rejectUnauthorized: !config.insecureSkipTlsVerify,
      })
    : new http.Agent({ keepAlive: true })
  const basePath = base.pathname.replace(/\/+$/, '')
  return <T>(method: string, path: string, opts: RequestOptions = {}) => {
    const qs = opts.query && Object.keys(opts.query).length ? `?${new URLSearchParams(opts.query)}` : ''
    const { payload, contentType } = encodeBody(opts.body, opts.contentType)
    const timeoutMs = opts.timeoutMs ?? defaultTimeout
    return new Promise<T>((resolve, reject) => {
      const req = (secure ? https : http).request(
        {
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port || (secure ? 443 : 80),
          method,
          path: `${basePath}${path}${qs}`,
          headers: requestHeaders(config.token, contentType, payload, opts.headers),
          agent,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', (e) => reject(new KubeConnectError(config.server, method, path, e)))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            const body = responseBody(text, res.headers['content-type'])
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) resolve(body as T)
            else reject(new KubeApiError(method, path, status, text === '' ? '' : body))
          })
        },
      )
      req.setTimeout(timeoutMs, () => {
        const e = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })
        req.destroy(e)
      })
      req.on('error', (e) => reject(new KubeConnectError(config.server, method, path, e)))
      req.end(payload)
    })
  }
}

/** Discovery, cached per group version until invalidated. */
function _discovery(request: Request) {
  const cache = new Map<string, Promise<ApiResourceList>>()
  async function resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
    let pending = cache.get(prefix)
    if (!pending) {
      pending = request<ApiResourceList>('GET', prefix)
      cache.set(prefix, pending)
      pending.catch(() => cache.delete(prefix))
    }
    let list: ApiResourceList
    try {
      list = await pending
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) {
        throw new Error(
          `Cannot find resource ${apiVersion} ${kind}: the API has no ${prefix}: ` +
            `create its CustomResourceDefinition first, or fix apiVersion`,
          { cause: error },
        )
      }
      throw error
    }
    const found = list.resources.find((r) => r.kind === kind && !r.name.includes('/'))
    if (!found) {
      throw new Error(
        `Cannot find resource ${apiVersion} ${kind}: ${prefix} has no kind "${kind}": ` +
          `create its CustomResourceDefinition first (then invalidateDiscovery()), or fix kind`,
      )
    }
    return { prefix, plural: found.name, namespaced: found.namespaced }
  }
  return { resourceFor, invalidate: () => cache.clear() }
}

/** `value` when the API answered 404 (not there); any other error is rethrown. */
const unless404 =
  <T>(value: T) =>
  (error: unknown): T => {
    if (error instanceof KubeApiError && error.status === 404) return value
    throw error
  }

export function createKubeClient(config: KubeConfig, options: { timeoutMs?: number } = {}): KubeClient {
  const request = _requester(config, options.timeoutMs ?? KUBE_DEFAULTS.timeoutMs)
  const discovery = _discovery(request)
  return {
    server: config.server,
    request,
    get: <T>(path: string) => request<T>('GET', path).catch(unless404<T | undefined>(undefined)),
    list: <T>(path: string, query?: Record<string, string>) =>
      request<KubeList<T>>('GET', path, query ? { query } : {}),
    delete: (path, query) =>
      request('DELETE', path, query ? { query } : {}).then(() => true, unless404(false)),
    patch: <T>(path: string, body: unknown, type: PatchType) =>
      request<T>('PATCH', path, { body, contentType: PATCH_TYPES[type] }),
    apply<T>(path: string, object: unknown, opts: { fieldManager: string; force?: boolean }) {
      const query: Record<string, string> = { fieldManager: opts.fieldManager }
      if (opts.force ?? true) query.force = 'true'
      return request<T>('PATCH', path, {
        body: JSON.stringify(object),
        contentType: 'application/apply-patch+yaml',
        query,
      })
    },
    resourceFor: discovery.resourceFor,
    invalidateDiscovery: discovery.invalidate,
    objectPath: async (obj) => pathFor(await discovery.resourceFor(obj.apiVersion, obj.kind), obj),
  }
}
