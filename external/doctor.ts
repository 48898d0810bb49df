/**
 * The external layer's checks for `homelab doctor`: the API token valid and the zone readable with
 * it, each scoped token present, limited to the zone and in its Secret, the tunnel connected (when a
 * cluster runs), and the wildcard record and tunnel.<domain> pointing at the tunnel. Reads only.
 */
import type { KubeClient } from '../lib/kube/index.ts'
import { type CloudflareApi, CloudflareApiError } from './cloudflare/api.ts'
import type { ExternalSettings } from './converge.ts'
import { needsRotation } from './desired.ts'
import type { ExternalSink } from './events.ts'
import { readSecretKey } from './kube-secrets.ts'
import {
  type ScopedTokenRole,
  TOKEN_SECRETS,
  tokenName,
  tunnelHostname,
  tunnelName,
  tunnelTarget,
} from './names.ts'

export interface ExternalDoctorOptions {
  readonly settings: ExternalSettings
  readonly api: CloudflareApi
  readonly apiWith: (token: string) => CloudflareApi
  /** The cluster, when one runs: the Secrets and the tunnel's connection are checked then. */
  readonly kube: KubeClient | undefined
  readonly emit: ExternalSink
  readonly now?: () => Date
}

const RUN = 'run `homelab external`'

/** Runs every check; true when all pass. */
export async function externalDoctor(o: ExternalDoctorOptions): Promise<boolean> {
  let ok = true
  const check = (name: string, pass: boolean, detail: string, fix?: string) => {
    if (!pass) ok = false
    o.emit({
      type: 'external.check',
      check: name,
      ok: pass,
      detail,
      ...(pass || fix === undefined ? {} : { fix }),
    })
  }
  const { settings } = o
  try {
    const verified = await o.api.verifyToken()
    check(
      'cloudflare token',
      verified.status === 'active',
      `status ${verified.status}`,
      'create a new token and set HOMELAB_CLOUDFLARE_API_TOKEN',
    )
  } catch (cause) {
    if (!(cause instanceof CloudflareApiError)) throw cause
    check(
      'cloudflare token',
      false,
      cause.message,
      'create a new token and run `homelab external` with it in HOMELAB_CLOUDFLARE_API_TOKEN',
    )
    return false
  }
  const zone = await o.api.zoneByName(settings.accountId, settings.zone)
  check(
    'zone',
    zone !== undefined,
    zone === undefined ? `${settings.zone} not found` : `${settings.zone} (${zone.id})`,
    'check external.cloudflare.zone and accountId',
  )
  if (zone === undefined) return false
  const tokens = await o.api.tokens()
  for (const role of Object.keys(TOKEN_SECRETS) as ScopedTokenRole[]) {
    const name = tokenName(role, settings.zone)
    const token = tokens.find((t) => t.name === name)
    if (token === undefined) {
      check(`token ${role}`, false, `${name} does not exist`, RUN)
      continue
    }
    const resources = (token.policies ?? []).flatMap((p) => Object.keys(p.resources))
    const scoped =
      resources.length > 0 && resources.every((r) => r === `com.cloudflare.api.account.zone.${zone.id}`)
    check(
      `token ${role}`,
      scoped,
      scoped ? `${name}: zone ${settings.zone} only` : `${name} reaches ${resources.join(', ') || 'nothing'}`,
      RUN,
    )
    const soon = needsRotation(token, o.now?.() ?? new Date())
    check(
      `token ${role} expiry`,
      !soon,
      `expires ${token.expires_on ?? 'never'}`,
      `${RUN} (it rotates the token)`,
    )
    if (o.kube === undefined) continue
    const ref = TOKEN_SECRETS[role]
    const stored = await readSecretKey(o.kube, ref)
    const works =
      stored !== undefined &&
      (await o
        .apiWith(stored)
        .verifyToken()
        .then(
          (v) => v.id === token.id && v.status === 'active',
          () => false,
        ))
    check(
      `secret ${ref.namespace}/${ref.name}`,
      works,
      stored === undefined ? 'missing' : works ? `holds ${name}` : `does not hold a working ${name}`,
      RUN,
    )
  }
  const tunnels = await o.api.tunnelsNamed(settings.accountId, tunnelName(settings.domain))
  const tunnel = tunnels[0]
  if (tunnel === undefined) {
    check('tunnel', false, `${tunnelName(settings.domain)} does not exist`, RUN)
    return false
  }
  if (o.kube !== undefined) {
    const live = await o.api.tunnel(settings.accountId, tunnel.id)
    const connected =
      (live.connections ?? []).length > 0 && (live.status === 'healthy' || live.status === 'degraded')
    check(
      'tunnel connected',
      connected,
      `status ${live.status ?? 'unknown'}, ${(live.connections ?? []).length} connection(s)`,
      'check the cloudflared pods (kubectl -n cloudflared logs deploy/cloudflared) and the Secret cloudflared/cloudflared-tunnel',
    )
  }
  // The wildcard, and tunnel.<domain>: external-dns's target for every route's host.
  const target = tunnelTarget(tunnel.id)
  for (const name of [`*.${settings.domain}`, tunnelHostname(settings.domain)]) {
    const records = await o.api.dnsRecordsNamed(zone.id, name)
    const points = records.some((r) => r.type === 'CNAME' && r.content.toLowerCase() === target)
    check('dns', points, points ? `${name} -> ${target}` : `${name} does not point at ${target}`, RUN)
  }
  return ok
}
