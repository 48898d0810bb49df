/**
 * The stand-in Vault HTTP API: Vault cannot run here. It answers, on 127.0.0.1, the endpoints
 * homelab uses with the shapes Vault 1.20's API documentation gives
 * (developer.hashicorp.com/vault/api-docs/system/{init,seal-status,unseal}, .../auth/jwt):
 *
 * - GET sys/seal-status, GET sys/init, PUT|POST sys/init (secret_shares, secret_threshold → keys,
 *   keys_base64, root_token), PUT|POST sys/unseal (key, or reset) with t/n/progress;
 * - with X-Vault-Token = the root token and unsealed: GET sys/auth, POST sys/auth/PATH,
 *   POST auth/oidc/config, POST auth/oidc/role/NAME, PUT|POST sys/policies/acl/NAME (kept in `written`);
 * - errors as Vault's `{"errors": [...]}`: 400 already initialised / not initialised / bad key,
 *   503 sealed, 403 permission denied, 404 no handler.
 *
 * Unlike Vault it refuses an unseal key it never issued at once (Vault would only fail at the
 * threshold); keys are random bytes, not Shamir shares. `restart()` seals it, as a pod restart does.
 * Nothing changes with time: every state holds until a request or the test changes it.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface VaultStandin {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Method, path and whether a token came: never bodies (they hold keys). */
  requests(): { method: string; path: string; token: boolean }[]
  /** What the authenticated writes stored, by path (`auth/oidc/config`, `sys/policies/acl/admin`, ...). */
  readonly written: Map<string, unknown>
  /** Mounted auth methods, `token/` and those enabled. */
  readonly authMounts: Set<string>
  state(): { initialized: boolean; sealed: boolean; progress: number }
  /** Seals Vault, as a restart of its pod does. */
  restart(): void
  /**
   * The same answers for the Kubernetes stand-in's service proxy (test/harness/kube-standin.ts
   * setServiceProxy), which passes no request body: GET requests only.
   */
  proxyHandler(): (path: string, method: string) => { status: number; body: unknown }
  close(): Promise<void>
}

const MAX_BODY = 64 * 1024

export interface VaultStandinOptions {
  /**
   * Refuse `auth/oidc/config` writes with this error (400), as Vault does when it cannot fetch the
   * discovery document (Dex not answering yet). @default accepted
   */
  readonly discoveryError?: string
}

export async function startVaultStandin(options: VaultStandinOptions = {}): Promise<VaultStandin> {
  let initialized = false
  let sealed = true
  let t = 0
  let n = 0
  let shares: { hex: string; b64: string }[] = []
  let rootToken = ''
  const submitted = new Set<string>()
  const log: { method: string; path: string; token: boolean }[] = []
  const written = new Map<string, unknown>()
  const authMounts = new Set<string>(['token/'])

  const sealStatus = () => ({
    type: 'shamir',
    initialized,
    sealed,
    t,
    n,
    progress: submitted.size,
    nonce: '',
    version: '1.20.4',
    build_date: '2025-09-23T13:22:38Z',
    migration: false,
    recovery_seal: false,
    storage_type: 'file',
    ...(sealed ? {} : { cluster_name: 'vault-cluster-standin', cluster_id: 'standin' }),
  })
  const err = (status: number, ...errors: string[]) => ({ status, body: { errors } })

  function answer(method: string, path: string, token: string | undefined, body: Record<string, unknown>) {
    const write = method === 'PUT' || method === 'POST'
    if (path === 'sys/seal-status' && method === 'GET') return { status: 200, body: sealStatus() }
    if (path === 'sys/init' && method === 'GET') return { status: 200, body: { initialized } }
    if (path === 'sys/init' && write) {
      if (initialized) return err(400, 'Vault is already initialized')
      const s = Number(body.secret_shares)
      const th = Number(body.secret_threshold)
      if (!Number.isInteger(s) || !Number.isInteger(th) || s < 1 || th < 1 || th > s)
        return err(400, 'invalid seal configuration: threshold must be at most the number of shares')
      ;[n, t] = [s, th]
      shares = Array.from({ length: n }, () => {
        const b = randomBytes(33)
        return { hex: b.toString('hex'), b64: b.toString('base64') }
      })
      rootToken = `hvs.${randomBytes(18).toString('base64url')}`
      initialized = true
      return {
        status: 200,
        body: {
          keys: shares.map((k) => k.hex),
          keys_base64: shares.map((k) => k.b64),
          root_token: rootToken,
        },
      }
    }
    if (path === 'sys/unseal' && write) {
      if (!initialized) return err(400, 'Vault is not initialized')
      if (body.reset === true) {
        submitted.clear()
        return { status: 200, body: sealStatus() }
      }
      if (!sealed) return { status: 200, body: sealStatus() }
      const share = shares.find((k) => k.hex === body.key || k.b64 === body.key)
      if (share === undefined) return err(400, "'key' must be a valid hex or base64 string")
      submitted.add(share.hex)
      if (submitted.size >= t) {
        sealed = false
        submitted.clear()
      }
      return { status: 200, body: sealStatus() }
    }
    if (sealed) return err(503, 'Vault is sealed')
    if (token !== rootToken) return err(403, 'permission denied')
    if (path === 'sys/auth' && method === 'GET') {
      const data = Object.fromEntries([...authMounts].map((m) => [m, { type: m.replace(/\/$/, '') }]))
      return { status: 200, body: { ...data, data } }
    }
    const mount = /^sys\/auth\/([a-z0-9-]+)$/.exec(path)
    if (mount && write) {
      if (authMounts.has(`${mount[1]}/`)) return err(400, `path is already in use at ${mount[1]}/`)
      authMounts.add(`${mount[1]}/`)
      return { status: 204, body: undefined }
    }
    const known =
      (/^auth\/oidc\/(config|role\/[a-z0-9-]+)$/.test(path) && authMounts.has('oidc/')) ||
      /^sys\/policies\/acl\/[a-z0-9-]+$/.test(path)
    if (known && write && path === 'auth/oidc/config' && options.discoveryError !== undefined)
      return err(400, options.discoveryError)
    if (known && write) {
      written.set(path, body)
      return { status: 204, body: undefined }
    }
    return err(404, `no handler for route "${path}". route entry not found.`)
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) req.destroy()
      else chunks.push(c)
    })
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/v1\//, '')
      const token = req.headers['x-vault-token'] as string | undefined
      log.push({ method: req.method ?? '', path, token: token !== undefined })
      let body: Record<string, unknown> = {}
      try {
        const text = Buffer.concat(chunks).toString('utf8')
        body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
      } catch {
        const a = err(400, 'failed to parse JSON input')
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body))
        return
      }
      const a = answer(req.method ?? '', path, token, body)
      if (a.body === undefined) res.writeHead(a.status).end()
      else res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => [...log],
    written,
    authMounts,
    state: () => ({ initialized, sealed, progress: submitted.size }),
    restart() {
      sealed = true
      submitted.clear()
    },
    proxyHandler: () => (path, method) => {
      log.push({ method, path: path.replace(/^\/v1\//, ''), token: false })
      return answer(method, path.replace(/^\/v1\//, ''), undefined, {})
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((e) => (e ? reject(e) : resolve()))
      }),
  }
}
