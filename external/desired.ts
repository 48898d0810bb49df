/**
 * What the external layer should look like, and the pure decisions of `homelab external`: the
 * tunnel's ingress, the DNS record, the scoped tokens' policies, whether a token must be rotated.
 */
import type { ApiToken, DnsRecord, PermissionGroup, TokenPolicy, TunnelConfig } from './cloudflare/types.ts'
import {
  GATEWAY_ORIGIN,
  RECORD_COMMENT,
  ROTATE_BEFORE_DAYS,
  TOKEN_PERMISSIONS,
  tunnelHostname,
  tunnelTarget,
} from './names.ts'

const DAY_MS = 86_400_000

/**
 * The tunnel's ingress: `*.<domain>` to the shared Gateway, anything else 404.
 *
 * TLS to the Gateway: its https listener is for `*.<domain>` only, so Envoy picks it by SNI; sent to
 * `homelab-gateway.envoy-gateway.svc` (the service URL's name, cloudflared's default SNI) no listener
 * matches and the handshake fails. `matchSNItoHost` makes cloudflared send each request's own host
 * (`app.<domain>`) as SNI and verify the certificate against it, which the wildcard certificate
 * covers. Verification stays on only with Let's Encrypt production: the self-signed issuer and
 * Let's Encrypt staging sign with a CA that cloudflared does not trust (`noTLSVerify` then; the hop
 * is inside the cluster).
 */
export function tunnelConfig(domain: string, trustedCertificate: boolean): TunnelConfig {
  return {
    ingress: [
      {
        hostname: `*.${domain}`,
        service: GATEWAY_ORIGIN,
        originRequest: { matchSNItoHost: true, noTLSVerify: !trustedCertificate },
      },
      { service: 'http_status:404' },
    ],
  }
}

/** True when the tunnel's configuration already routes as wanted (extra origin fields aside). */
export function sameIngress(current: TunnelConfig | undefined, wanted: TunnelConfig): boolean {
  if (current === undefined || current.ingress.length !== wanted.ingress.length) return false
  return wanted.ingress.every((rule, i) => {
    const got = current.ingress[i]
    if (got === undefined) return false
    if ((got.hostname ?? '') !== (rule.hostname ?? '') || got.service !== rule.service) return false
    const w = rule.originRequest ?? {}
    const g = got.originRequest ?? {}
    return (
      (g.matchSNItoHost ?? false) === (w.matchSNItoHost ?? false) &&
      (g.noTLSVerify ?? false) === (w.noTLSVerify ?? false) &&
      (g.originServerName ?? '') === (w.originServerName ?? '')
    )
  })
}

/** The wildcard CNAME that sends `*.<domain>` to the tunnel, proxied (Cloudflare's edge terminates TLS). */
export function tunnelRecord(domain: string, tunnelId: string): Omit<DnsRecord, 'id'> {
  return tunnelCname(`*.${domain}`, tunnelId)
}

/** The proxied CNAME `tunnel.<domain>` to the tunnel: external-dns points every route's host at it. */
export function tunnelHostRecord(domain: string, tunnelId: string): Omit<DnsRecord, 'id'> {
  return tunnelCname(tunnelHostname(domain), tunnelId)
}

function tunnelCname(name: string, tunnelId: string): Omit<DnsRecord, 'id'> {
  return {
    type: 'CNAME',
    name,
    content: tunnelTarget(tunnelId),
    proxied: true,
    ttl: 1,
    comment: RECORD_COMMENT,
  }
}

export type RecordDecision =
  | { readonly action: 'create' }
  | { readonly action: 'keep'; readonly id: string }
  | { readonly action: 'update'; readonly id: string }
  | { readonly action: 'conflict'; readonly detail: string }

/** What to do about the records already named like ours: only a record with our comment is ours. */
export function decideRecord(existing: readonly DnsRecord[], wanted: Omit<DnsRecord, 'id'>): RecordDecision {
  const ours = existing.find((r) => r.comment === RECORD_COMMENT)
  const foreign = existing.filter((r) => r.comment !== RECORD_COMMENT)
  if (ours === undefined) {
    if (foreign.length === 0) return { action: 'create' }
    const f = foreign[0] as DnsRecord
    return {
      action: 'conflict',
      detail: `${f.type} ${f.name} -> ${f.content} exists and was not created by homelab: left alone; delete it in the Cloudflare dashboard to let the tunnel have ${wanted.name}`,
    }
  }
  const same =
    ours.type === wanted.type &&
    ours.content.toLowerCase() === wanted.content.toLowerCase() &&
    (ours.proxied ?? false) === wanted.proxied
  return same ? { action: 'keep', id: ours.id } : { action: 'update', id: ours.id }
}

/** The policy of a scoped token: DNS Write and Zone Read on this zone only. */
export function tokenPolicies(groups: readonly PermissionGroup[], zoneId: string): TokenPolicy[] {
  const ids = TOKEN_PERMISSIONS.map((name) => {
    const group = groups.find((g) => g.name === name)
    if (group === undefined) {
      throw new Error(
        `Cannot scope the API tokens: Cloudflare lists no permission group "${name}": check that the API token may read permission groups (User, API Tokens, Edit)`,
      )
    }
    return { id: group.id }
  })
  return [
    {
      effect: 'allow',
      permission_groups: ids,
      resources: { [`com.cloudflare.api.account.zone.${zoneId}`]: '*' },
    },
  ]
}

/** True when a token's policies grant exactly `wanted` (ids and resources, order aside). */
export function samePolicies(
  current: readonly TokenPolicy[] | undefined,
  wanted: readonly TokenPolicy[],
): boolean {
  const norm = (ps: readonly TokenPolicy[]) =>
    JSON.stringify(
      ps
        .map((p) => ({
          effect: p.effect,
          groups: p.permission_groups.map((g) => g.id).sort(),
          resources: Object.entries(p.resources).sort(),
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    )
  return current !== undefined && norm(current) === norm(wanted)
}

/** True when the token has expired or expires within ROTATE_BEFORE_DAYS of `now`. */
export function needsRotation(token: ApiToken, now: Date): boolean {
  if (token.status === 'expired') return true
  if (token.expires_on === undefined) return false
  return Date.parse(token.expires_on) - now.getTime() < ROTATE_BEFORE_DAYS * DAY_MS
}

/** The expiry of a token made or rotated at `now`, as RFC 3339 without fractions (as the API writes it). */
export function expiryFrom(now: Date, days: number): string {
  return new Date(now.getTime() + days * DAY_MS).toISOString().replace(/\.\d+Z$/, 'Z')
}
