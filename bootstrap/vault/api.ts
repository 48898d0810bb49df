/**
 * Vault's HTTP API, the few endpoints homelab uses (Vault 1.20.4, the vault chart 0.31.0's
 * appVersion; shapes from developer.hashicorp.com/vault/api-docs/system/{init,unseal,seal-status}
 * and .../auth/jwt): over a transport, so that the same code runs through the Kubernetes API
 * server's service proxy (the only way the controller reaches the cluster before any route or DNS
 * works) or plain HTTP (tests, against the stand-in Vault HTTP API).
 */
import { KubeApiError, type KubeClient } from '../../lib/kube/index.ts'

export interface VaultAnswer {
  readonly status: number
  readonly body: unknown
}

/** One request to `/v1/<path>`; `token` goes in X-Vault-Token. Never throws for an HTTP status. */
export type VaultTransport = (
  method: string,
  path: string,
  options?: { body?: unknown; token?: string },
) => Promise<VaultAnswer>

/** Through the API server's service proxy: `/api/v1/namespaces/NS/services/SERVICE/proxy/v1/PATH`. */
export function serviceProxyTransport(
  api: KubeClient,
  namespace = 'vault',
  service = 'vault:8200',
): VaultTransport {
  return async (method, path, options = {}) => {
    try {
      const body = await api.request<unknown>(
        method,
        `/api/v1/namespaces/${namespace}/services/${service}/proxy/v1/${path}`,
        {
          ...(options.body === undefined ? {} : { body: options.body }),
          ...(options.token === undefined ? {} : { headers: { 'x-vault-token': options.token } }),
        },
      )
      return { status: 200, body }
    } catch (error) {
      if (error instanceof KubeApiError) return { status: error.status, body: error.body }
      throw error
    }
  }
}

/** Plain HTTP to Vault's address (`http://host:8200`). */
export function httpTransport(address: string, fetchFn: typeof fetch = fetch): VaultTransport {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = {}
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    if (options.token !== undefined) headers['x-vault-token'] = options.token
    const res = await fetchFn(`${address.replace(/\/+$/, '')}/v1/${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {}
    return { status: res.status, body }
  }
}

/** GET sys/seal-status (unauthenticated). */
export interface SealStatus {
  readonly type?: string
  readonly initialized: boolean
  readonly sealed: boolean
  /** The threshold. */
  readonly t: number
  /** The number of shares. */
  readonly n: number
  readonly progress: number
  readonly version?: string
}

/** PUT sys/init's answer. */
export interface InitAnswer {
  readonly keys: readonly string[]
  readonly keys_base64: readonly string[]
  readonly root_token: string
}

/** Vault's `{"errors": [...]}`, joined; a short excerpt of anything else. */
export function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors
  if (Array.isArray(errors)) return errors.map(String).join('; ')
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body ?? '').slice(0, 200)
}

export class VaultApiError extends Error {
  readonly code = 'HOMELAB_VAULT_API'
  override name = 'VaultApiError'
  readonly status: number
  constructor(method: string, path: string, status: number, body: unknown) {
    super(`Vault API ${method} /v1/${path}: ${status}: ${vaultErrors(body)}`)
    this.status = status
  }
}

/** A client over a transport: each call throws VaultApiError unless Vault answers 2xx. */
export function vaultClient(transport: VaultTransport) {
  async function call<T>(method: string, path: string, options: { body?: unknown; token?: string } = {}) {
    const answer = await transport(method, path, options)
    if (answer.status < 200 || answer.status >= 300)
      throw new VaultApiError(method, path, answer.status, answer.body)
    return answer.body as T
  }
  return {
    call,
    sealStatus: () => call<SealStatus>('GET', 'sys/seal-status'),
    init: (shares: number, threshold: number) =>
      call<InitAnswer>('PUT', 'sys/init', { body: { secret_shares: shares, secret_threshold: threshold } }),
    unseal: (key: string) => call<SealStatus>('PUT', 'sys/unseal', { body: { key } }),
    resetUnseal: () => call<SealStatus>('PUT', 'sys/unseal', { body: { reset: true } }),
  }
}

export type VaultClient = ReturnType<typeof vaultClient>
