import type { Config } from '../core/config/schema.ts'
import type { ExternalSettings } from './converge.ts'

/** The external layer's settings from homelab.yaml; undefined without `external.cloudflare`. */
export function externalSettings(config: Config): ExternalSettings | undefined {
  const cloudflare = config.external?.cloudflare
  if (cloudflare === undefined) return undefined
  return {
    accountId: cloudflare.accountId,
    zone: cloudflare.zone,
    domain: config.gitops.domain,
    // the Gateway's certificate is then Let's Encrypt production's (bootstrap/settings.ts clusterIssuer)
    trustedCertificate: config.external?.letsencrypt?.server === 'production',
  }
}
