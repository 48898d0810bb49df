/**
 * Bootstrap's Vault step: wait until Vault answers through the API server's service proxy (ArgoCD
 * deploys it after the root app), initialise and unseal it (unseal.ts), then configure its login
 * through Dex (oidc.ts) with the client secret of the generated secret `oidc-vault`.
 */
import type { KubeClient, KubeObject } from '../../lib/kube/index.ts'
import { readSecret } from '../secrets/secrets.ts'
import type { ClusterSettings } from '../settings.ts'
import { serviceProxyTransport, VaultApiError, type VaultTransport, vaultClient } from './api.ts'
import { configureVaultOidc } from './oidc.ts'
import { ensureUnsealed, keysFile, readKeys, type VaultEvent } from './unseal.ts'

export interface BootstrapVaultOptions {
  readonly api: KubeClient
  readonly stateDir: string
  readonly settings: ClusterSettings
  /** @default the service proxy to vault/vault:8200 */
  readonly transport?: VaultTransport
  readonly events?: (e: VaultEvent) => void
}

/** The admin's e-mail: Dex's static password user (platform/dex/templates/config.yaml). */
export const adminEmail = (domain: string) => `admin@${domain}`

/** The self-signed wildcard certificate (its own CA) when the Gateway uses the self-signed issuer. */
async function selfSignedCa(api: KubeClient, settings: ClusterSettings): Promise<string | undefined> {
  if (settings.clusterIssuer !== 'homelab-selfsigned') return undefined
  const name = `${settings.domain.replaceAll('.', '-')}-wildcard-tls`
  const secret = await api.get<KubeObject>(`/api/v1/namespaces/envoy-gateway/secrets/${name}`)
  const data = (secret?.data ?? {}) as Record<string, string>
  const pem = data['ca.crt'] || data['tls.crt']
  return pem === undefined ? undefined : Buffer.from(pem, 'base64').toString('utf8')
}

/**
 * Initialises, unseals and configures Vault; assumes it answers (the caller waited). Returns false
 * when Vault refused the OIDC config (it checks the discovery URL when it is written, so Dex must
 * already answer at https://dex.<domain> from inside the cluster): Vault is unsealed and usable with
 * its root token, and the next `homelab bootstrap` writes the config again.
 */
export async function bootstrapVault(options: BootstrapVaultOptions): Promise<boolean> {
  const vault = vaultClient(options.transport ?? serviceProxyTransport(options.api))
  const emit = options.events ?? (() => {})
  await ensureUnsealed({ vault, stateDir: options.stateDir, init: true, events: emit })
  const keys = await readKeys(keysFile(options.stateDir))
  if (keys === undefined) throw new Error(`Cannot configure Vault: ${keysFile(options.stateDir)} is missing`)
  const caPem = await selfSignedCa(options.api, options.settings)
  try {
    const done = await configureVaultOidc(vault, keys.root_token, {
      domain: options.settings.domain,
      clientId: 'vault',
      clientSecret: await readSecret(options.api, 'oidc-vault'),
      adminEmail: adminEmail(options.settings.domain),
      ...(caPem === undefined ? {} : { caPem }),
    })
    emit({ type: 'vault', step: 'oidc', detail: done.join(', ') })
    return true
  } catch (error) {
    if (!(error instanceof VaultApiError)) throw error
    emit({
      type: 'vault',
      step: 'oidc',
      detail: `login through Dex not configured yet (${error.message}): once https://dex.${options.settings.domain} answers inside the cluster, run \`homelab bootstrap\` again`,
    })
    return false
  }
}

/** Undefined when Vault answers its seal status, else what was seen (for the wait). */
export async function vaultAnswers(transport: VaultTransport): Promise<string | undefined> {
  try {
    const answer = await transport('GET', 'sys/seal-status')
    return answer.status === 200 ? undefined : `seal-status answered ${answer.status}`
  } catch (error) {
    return (error as Error).message
  }
}
