/**
 * `homelab external`: converges the Cloudflare side of the homelab from one API token: the named
 * tunnel (its ingress to the shared Gateway and its token in the Secret system/cloudflared reads),
 * the wildcard DNS record and tunnel.<domain> (external-dns's target) to the tunnel, and the scoped tokens of external-dns and cert-manager
 * (each in the Secret its component reads). It reads everything first, changes only what differs,
 * never deletes, and touches only objects carrying the homelab name or record comment.
 * With `plan`, it reports what it would change and changes nothing.
 */
import { randomBytes } from 'node:crypto'
import type { KubeClient } from '../lib/kube/index.ts'
import { type CloudflareApi, CloudflareApiError } from './cloudflare/api.ts'
import type { ApiToken, Tunnel } from './cloudflare/types.ts'
import {
  decideRecord,
  expiryFrom,
  needsRotation,
  sameIngress,
  samePolicies,
  tokenPolicies,
  tunnelConfig,
  tunnelHostRecord,
  tunnelRecord,
} from './desired.ts'
import type { ExternalAction, ExternalObject, ExternalSink } from './events.ts'
import { readSecretKey, writeSecretKey } from './kube-secrets.ts'
import {
  ADMIN_TOKEN_SECRET,
  type ScopedTokenRole,
  type SecretRef,
  TOKEN_LIFETIME_DAYS,
  TOKEN_SECRETS,
  TUNNEL_SECRET,
  tokenName,
  tunnelName,
} from './names.ts'

export interface ExternalSettings {
  readonly accountId: string
  readonly zone: string
  /** gitops.domain: the tunnel serves `*.<domain>`. */
  readonly domain: string
  /** The Gateway's certificate is from Let's Encrypt production (cloudflared may verify it). */
  readonly trustedCertificate: boolean
}

export interface ConvergeOptions {
  readonly settings: ExternalSettings
  /** The client with the user's token. */
  readonly api: CloudflareApi
  /** A client with another token (to check a scoped token stored in a Secret). */
  readonly apiWith: (token: string) => CloudflareApi
  /** The cluster; undefined only with `plan` (then every Secret is reported as to be written). */
  readonly kube: KubeClient | undefined
  readonly plan: boolean
  readonly emit: ExternalSink
  readonly now?: () => Date
  /** The new tunnel's secret (32 random bytes, base64). */
  readonly tunnelSecret?: () => string
  /** The user's token, kept in the Secret ADMIN_TOKEN_SECRET too (when given). */
  readonly keepToken?: string
}

interface Run {
  readonly o: ConvergeOptions
  changes: number
  report(object: ExternalObject, name: string, action: ExternalAction, detail: string): void
  /** Runs `change` unless planning; counts it. */
  apply<T>(change: () => Promise<T>): Promise<T | undefined>
}

/** Fails with the fix when the user's token is refused, else returns. */
export async function checkToken(api: CloudflareApi): Promise<void> {
  try {
    const verified = await api.verifyToken()
    if (verified.status !== 'active') {
      throw new Error(
        `Cannot use the Cloudflare API token: its status is "${verified.status}": create a new one (dash.cloudflare.com, My Profile, API Tokens) and run \`homelab external\` again with it in HOMELAB_CLOUDFLARE_API_TOKEN`,
      )
    }
  } catch (cause) {
    if (cause instanceof CloudflareApiError && cause.invalidToken) {
      throw new Error(
        `Cannot use the Cloudflare API token: Cloudflare refused it (${cause.message.replace(/^[^:]*: /, '')}): ` +
          'create a token (dash.cloudflare.com, My Profile, API Tokens) with Account Cloudflare Tunnel Edit, ' +
          'Zone DNS Edit, Zone Read and User API Tokens Edit, then run `homelab external` again with it in HOMELAB_CLOUDFLARE_API_TOKEN',
        { cause },
      )
    }
    throw cause
  }
}

/** Converges everything; resolves with the number of changes made (or planned). */
export async function convergeExternal(o: ConvergeOptions): Promise<number> {
  if (!o.plan && o.kube === undefined)
    throw new Error('Cannot write the Secrets: no cluster: run `homelab cluster` first')
  const { settings } = o
  if (settings.domain !== settings.zone && !settings.domain.endsWith(`.${settings.zone}`)) {
    throw new Error(
      `Cannot publish "${settings.domain}" through Cloudflare: it is not inside the zone "${settings.zone}": set gitops.domain to the zone or a name under it, or external.cloudflare.zone to its zone`,
    )
  }
  await checkToken(o.api)
  const zone = await o.api.zoneByName(settings.accountId, settings.zone)
  if (zone === undefined) {
    throw new Error(
      `Cannot find the Cloudflare zone "${settings.zone}" in account ${settings.accountId}: check external.cloudflare.zone and accountId, and that the token may read the zone (Zone Read)`,
    )
  }
  const run: Run = {
    o,
    changes: 0,
    report(object, name, action, detail) {
      if (action !== 'keep' && action !== 'conflict') this.changes++
      o.emit({ type: 'external.change', object, name, action, detail, planned: o.plan })
    },
    async apply(change) {
      return o.plan ? undefined : change()
    },
  }
  const keep = o.keepToken
  if (keep !== undefined)
    await convergeSecret(run, ADMIN_TOKEN_SECRET, keep, async (stored) => stored === keep)
  const tunnel = await convergeTunnel(run)
  await convergeRecord(run, zone.id, tunnel?.id, tunnelRecord)
  await convergeRecord(run, zone.id, tunnel?.id, tunnelHostRecord)
  const groups = await o.api.permissionGroups()
  const policies = tokenPolicies(groups, zone.id)
  const tokens = await o.api.tokens()
  for (const role of Object.keys(TOKEN_SECRETS) as ScopedTokenRole[]) {
    await convergeToken(run, role, tokens, policies)
  }
  o.emit({ type: 'external.done', changes: run.changes, planned: o.plan })
  return run.changes
}

/** The tunnel, its ingress and its token's Secret; undefined only when planning its creation. */
async function convergeTunnel(run: Run): Promise<Tunnel | undefined> {
  const { api, settings } = run.o
  const name = tunnelName(settings.domain)
  const found = (await api.tunnelsNamed(settings.accountId, name)).sort((a, b) =>
    (a.created_at ?? '').localeCompare(b.created_at ?? ''),
  )
  let tunnel = found[0]
  if (tunnel === undefined) {
    run.report('tunnel', name, 'create', 'a remotely managed tunnel (config_src cloudflare)')
    const secret = run.o.tunnelSecret?.() ?? randomBytes(32).toString('base64')
    tunnel = await run.apply(() => api.createTunnel(settings.accountId, name, secret))
  } else {
    run.report(
      'tunnel',
      name,
      'keep',
      `id ${tunnel.id}${found.length > 1 ? ` (${found.length - 1} more of that name left alone)` : ''}`,
    )
  }
  const wanted = tunnelConfig(settings.domain, settings.trustedCertificate)
  const current = tunnel === undefined ? undefined : await api.tunnelConfig(settings.accountId, tunnel.id)
  const ingress = `*.${settings.domain} -> ${wanted.ingress[0]?.service} (matchSNItoHost, noTLSVerify ${!settings.trustedCertificate})`
  if (sameIngress(current, wanted)) run.report('tunnel-config', name, 'keep', ingress)
  else {
    run.report('tunnel-config', name, current === undefined ? 'create' : 'update', ingress)
    const id = tunnel?.id
    if (id !== undefined) await run.apply(() => api.putTunnelConfig(settings.accountId, id, wanted))
  }
  const id = tunnel?.id
  const token = id === undefined ? undefined : await api.tunnelToken(settings.accountId, id)
  await convergeSecret(run, TUNNEL_SECRET, token, async (stored) => stored === token)
  return tunnel
}

/** Writes `value` to the Secret unless it already holds a value `holds` accepts. */
async function convergeSecret(
  run: Run,
  ref: SecretRef,
  value: string | undefined,
  holds: (stored: string) => Promise<boolean>,
): Promise<void> {
  const name = `${ref.namespace}/${ref.name}`
  const stored = run.o.kube === undefined ? undefined : await readSecretKey(run.o.kube, ref)
  if (stored !== undefined && (await holds(stored))) {
    run.report('secret', name, 'keep', `key ${ref.key}`)
    return
  }
  run.report('secret', name, stored === undefined ? 'create' : 'update', `key ${ref.key}`)
  const kube = run.o.kube
  if (value !== undefined && kube !== undefined) await run.apply(() => writeSecretKey(kube, ref, value))
}

/**
 * A CNAME to the tunnel (the wildcard, or tunnel.<domain> that external-dns points routes at);
 * someone else's record of that name is reported, never changed.
 */
async function convergeRecord(
  run: Run,
  zoneId: string,
  tunnelId: string | undefined,
  record: typeof tunnelRecord,
): Promise<void> {
  const { api, settings } = run.o
  const wanted = record(settings.domain, tunnelId ?? '<new tunnel>')
  const decision = decideRecord(await api.dnsRecordsNamed(zoneId, wanted.name), wanted)
  const detail = `CNAME -> ${wanted.content}, proxied`
  if (decision.action === 'conflict') {
    run.report('dns-record', wanted.name, 'conflict', decision.detail)
    return
  }
  run.report('dns-record', wanted.name, decision.action, detail)
  if (tunnelId === undefined) return
  if (decision.action === 'create') await run.apply(() => api.createDnsRecord(zoneId, wanted))
  if (decision.action === 'update') await run.apply(() => api.updateDnsRecord(zoneId, decision.id, wanted))
}

/** One scoped token: created, re-scoped, rotated near expiry, rolled when its Secret is lost. */
async function convergeToken(
  run: Run,
  role: ScopedTokenRole,
  tokens: readonly ApiToken[],
  policies: ReturnType<typeof tokenPolicies>,
): Promise<void> {
  const { api, settings } = run.o
  const now = run.o.now?.() ?? new Date()
  const name = tokenName(role, settings.zone)
  const ref = TOKEN_SECRETS[role]
  const write = { name, policies, expires_on: expiryFrom(now, TOKEN_LIFETIME_DAYS) }
  const token = tokens.find((t) => t.name === name)
  if (token === undefined) {
    run.report(
      'token',
      name,
      'create',
      `DNS Write and Zone Read on ${settings.zone}, ${TOKEN_LIFETIME_DAYS} days`,
    )
    const created = await run.apply(() => api.createToken(write))
    return convergeSecret(run, ref, created?.value, async () => false)
  }
  const rotate = needsRotation(token, now)
  const rescope = !samePolicies(token.policies, policies)
  if (rotate || rescope) {
    run.report(
      'token',
      name,
      rotate ? 'rotate' : 'update',
      rotate
        ? `expires ${token.expires_on ?? 'never'}: a new value, ${TOKEN_LIFETIME_DAYS} more days`
        : `scope set to ${settings.zone}`,
    )
    await run.apply(() => api.updateToken(token.id, write))
  } else run.report('token', name, 'keep', `expires ${token.expires_on ?? 'never'}`)
  // A value is shown once, at creation: a lost Secret (or a rotation) takes a new one (roll).
  const valid = async (stored: string) => !rotate && (await tokenIs(run.o.apiWith(stored), token.id))
  const stored = run.o.kube === undefined ? undefined : await readSecretKey(run.o.kube, ref)
  if (stored !== undefined && (await valid(stored))) {
    run.report('secret', `${ref.namespace}/${ref.name}`, 'keep', `key ${ref.key}`)
    return
  }
  const value = await run.apply(() => api.rollToken(token.id))
  await convergeSecret(run, ref, value, async () => false)
}

/** True when `api`'s token is the active token `id`. */
async function tokenIs(api: CloudflareApi, id: string): Promise<boolean> {
  try {
    const verified = await api.verifyToken()
    return verified.id === id && verified.status === 'active'
  } catch (cause) {
    if (cause instanceof CloudflareApiError && cause.invalidToken) return false
    throw cause
  }
}
