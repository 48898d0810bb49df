/**
 * What `homelab external` creates, by name: the Cloudflare objects (each named with the homelab
 * prefix, so that what it did not create is never touched) and the Kubernetes Secrets each
 * component reads. The Secrets' names and keys are those of the rendered manifests:
 * system/cloudflared (values.yaml tokenSecret), system/external-dns (values.yaml env CF_API_TOKEN),
 * system/cert-manager (templates/cluster-issuers.yaml apiTokenSecretRef); a test renders them.
 */

/** The prefix of every Cloudflare object homelab creates. */
export const PREFIX = 'homelab'
/** The comment on DNS records homelab creates: a record without it is someone else's. */
export const RECORD_COMMENT = 'managed by homelab external'
/** Where the tunnel sends every request: the shared Gateway's Service (system/envoy-gateway). */
export const GATEWAY_ORIGIN = 'https://homelab-gateway.envoy-gateway.svc:443'
/** Scoped tokens live this long; one with less than ROTATE_BEFORE_DAYS left is rotated. */
export const TOKEN_LIFETIME_DAYS = 90
export const ROTATE_BEFORE_DAYS = 30

export interface SecretRef {
  readonly namespace: string
  readonly name: string
  readonly key: string
}

/** The API token the user gave, kept in the cluster (besides `.state/cloudflare-api-token`, 0600). */
export const ADMIN_TOKEN_SECRET: SecretRef = {
  namespace: 'kube-system',
  name: 'homelab-cloudflare-api-token',
  key: 'api-token',
}
/** The tunnel token cloudflared runs with (TUNNEL_TOKEN). */
export const TUNNEL_SECRET: SecretRef = { namespace: 'cloudflared', name: 'cloudflared-tunnel', key: 'token' }

export type ScopedTokenRole = 'external-dns' | 'cert-manager'
/** The Secret each scoped token is written to. */
export const TOKEN_SECRETS: Readonly<Record<ScopedTokenRole, SecretRef>> = {
  'external-dns': { namespace: 'external-dns', name: 'cloudflare-api-token', key: 'api-token' },
  'cert-manager': { namespace: 'cert-manager', name: 'cloudflare-api-token', key: 'api-token' },
}
/** The permission groups of each scoped token, by name (GET /user/tokens/permission_groups). */
export const TOKEN_PERMISSIONS: readonly string[] = ['DNS Write', 'Zone Read']

const label = (domain: string) => domain.toLowerCase().replaceAll('.', '-')
/** The tunnel of the homelab serving `domain`. */
export const tunnelName = (domain: string) => `${PREFIX}-${label(domain)}`
/** A scoped token's name. */
export const tokenName = (role: ScopedTokenRole, zone: string) => `${PREFIX}-${role}-${label(zone)}`
/** The CNAME target of a tunnel (Cloudflare's documented `<id>.cfargotunnel.com`). */
export const tunnelTarget = (tunnelId: string) => `${tunnelId}.cfargotunnel.com`
/**
 * The name every route's host points at when external-dns publishes through the tunnel: the
 * shared Gateway's external-dns target annotation (system/envoy-gateway) names it too.
 */
export const tunnelHostname = (domain: string) => `tunnel.${domain}`
