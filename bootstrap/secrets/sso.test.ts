/**
 * Single sign-on, both sides: every OIDC client in Dex's configuration (platform/dex, rendered by the
 * pinned real Helm) matches the client ID, the secret reference and the redirect URL its app's values
 * and rendered templates use, and each secret reference is a generated Secret of the registry. The
 * upstream charts are not cached here, so the apps' side is their values.yaml plus our rendered
 * templates (ROOT_URL, root_url), which is what the upstream charts read.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { ARGOCD_OIDC_SECRET, argocdSsoObjects, argocdUrl } from '../argocd/sso.ts'
import { type RenderedManifest, renderChart } from '../render/helm.ts'
import type { ClusterSettings } from '../settings.ts'
import { adminEmail } from '../vault/bootstrap-vault.ts'
import { vaultRedirectUris } from '../vault/oidc.ts'
import { GENERATED_SECRETS, type GeneratedSecret, type Place } from './registry.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOMAIN = 'sso.example.test'
const SETTINGS: ClusterSettings = {
  domain: DOMAIN,
  timezone: 'Europe/Paris',
  loadBalancerPool: '10.0.0.200-10.0.0.220',
  clusterIssuer: 'homelab-selfsigned',
  letsencryptEmail: '',
  repoURL: 'https://example.test/homelab',
  revision: 'main',
  seedRepoURL: 'https://example.test/homelab',
  giteaRepoURL: 'http://gitea-http.gitea.svc:3000/ops/homelab.git',
}

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, read field by field by assertions
type Json = Record<string, any>
interface DexClient {
  id: string
  name: string
  secretEnv: string
  redirectURIs: string[]
}

let dex: Json
let dexValues: Json
let gitea: Json
let giteaConfig: Json
let grafana: Json
let grafanaEnv: Record<string, string>
const rendered: RenderedManifest[] = []

const values = async (folder: string) =>
  parse(await readFile(`${ROOT}/${folder}/values.yaml`, 'utf8')) as Json
async function render(folder: string): Promise<RenderedManifest[]> {
  const manifests = await renderChart(`${ROOT}/${folder}`, { global: { homelab: SETTINGS } })
  rendered.push(...manifests)
  return manifests
}
const find = (ms: RenderedManifest[], kind: string, name: string) =>
  ms.find((m) => m.manifest.kind === kind && (m.manifest.metadata as Json).name === name)?.manifest as Json

before(async () => {
  const dexRender = await render('platform/dex')
  dex = parse(find(dexRender, 'Secret', 'dex-homelab').stringData['config.yaml'])
  dexValues = (await values('platform/dex')).dex
  gitea = (await values('platform/gitea')).gitea
  giteaConfig = find(await render('platform/gitea'), 'ConfigMap', 'gitea-homelab').data
  grafana = (await values('system/monitoring'))['kube-prometheus-stack'].grafana
  grafanaEnv = find(await render('system/monitoring'), 'ConfigMap', 'grafana-homelab').data
  await render('bootstrap/argocd')
  await render('apps/paperless')
})

/** The Dex Deployment's variable `name` as a secretKeyRef. */
function dexEnvRef(name: string): { name: string; key: string } | undefined {
  return (dexValues.envVars as Json[]).find((e) => e.name === name)?.valueFrom?.secretKeyRef
}

/** The place of `s` in `namespace`, and the key name it gives value key `key`. */
function placeIn(s: GeneratedSecret, namespace: string): Place {
  const p = s.places.find((x) => x.namespace === namespace)
  assert.ok(p, `${s.id} has a Secret in namespace ${namespace}`)
  return p
}
const keyOf = (p: Place, valueKey: string) =>
  p.keys === undefined ? valueKey : Object.entries(p.keys).find(([, v]) => v === valueKey)?.[0]
const fixedValue = (s: GeneratedSecret, key: string) => {
  const g = s.keys[key]
  return g?.kind === 'fixed' ? g.value : undefined
}
const entry = (id: string) => GENERATED_SECRETS.find((s) => s.id === id) as GeneratedSecret

test('Dex (real Helm render) has one static client per oidc-* generated secret, with its ID, and reads each secret from it', () => {
  const clients = dex.staticClients as DexClient[]
  const oidc = GENERATED_SECRETS.filter((s) => s.id.startsWith('oidc-'))
  assert.deepEqual(clients.map((c) => `oidc-${c.id}`).sort(), oidc.map((s) => s.id).sort())
  for (const c of clients) {
    const s = entry(`oidc-${c.id}`)
    assert.equal(fixedValue(s, 'client-id'), c.id, `${c.id}: the generated client-id is Dex's ID`)
    const p = placeIn(s, 'dex')
    assert.deepEqual(
      dexEnvRef(c.secretEnv),
      { name: p.name, key: keyOf(p, 'client-secret') },
      `${c.id}: ${c.secretEnv}`,
    )
  }
})

test("Dex's admin (real Helm render) has the e-mail Vault binds and the bcrypt hash of the generated admin secret", () => {
  const [admin, ...more] = dex.staticPasswords as Json[]
  assert.equal(more.length, 0)
  assert.equal(admin?.email, adminEmail(DOMAIN))
  const p = placeIn(entry('admin'), 'dex')
  assert.deepEqual(dexEnvRef(admin?.hashFromEnv), { name: p.name, key: 'hash' })
  assert.equal(entry('admin').keys.hash?.kind, 'bcrypt')
  assert.equal(dex.issuer, `https://dex.${DOMAIN}`)
})

test("Gitea's Dex login source matches Dex's gitea client: secret reference, client ID and callback URL", () => {
  const client = (dex.staticClients as DexClient[]).find((c) => c.id === 'gitea') as DexClient
  const [source, ...more] = gitea.gitea.oauth as Json[]
  assert.equal(more.length, 0)
  const p = placeIn(entry('oidc-gitea'), 'gitea')
  assert.equal(source?.existingSecret, p.name)
  // the chart's existingSecret keys: "key" (the client ID) and "secret"
  assert.deepEqual(p.keys, { key: 'client-id', secret: 'client-secret' })
  assert.equal(source?.provider, 'openidConnect')
  const rootUrl = /^ROOT_URL=(.*)$/m.exec(giteaConfig.server)?.[1]
  assert.deepEqual(client.redirectURIs, [`${rootUrl}user/oauth2/${source?.name}/callback`])
  assert.equal(gitea.gitea.admin.existingSecret, placeIn(entry('gitea-admin'), 'gitea').name)
  assert.deepEqual(Object.keys(entry('gitea-admin').keys), ['username', 'password'])
})

test("Grafana's generic OAuth matches Dex's grafana client: client ID and secret references, callback URL, Dex's URLs", () => {
  const client = (dex.staticClients as DexClient[]).find((c) => c.id === 'grafana') as DexClient
  const p = placeIn(entry('oidc-grafana'), 'monitoring')
  assert.deepEqual(grafana.envValueFrom.GF_AUTH_GENERIC_OAUTH_CLIENT_ID.secretKeyRef, {
    name: p.name,
    key: keyOf(p, 'client-id'),
  })
  assert.deepEqual(grafana.envValueFrom.GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET.secretKeyRef, {
    name: p.name,
    key: keyOf(p, 'client-secret'),
  })
  assert.deepEqual(client.redirectURIs, [`${grafanaEnv.GF_SERVER_ROOT_URL}/login/generic_oauth`])
  assert.equal(grafanaEnv.GF_AUTH_GENERIC_OAUTH_AUTH_URL, `${dex.issuer}/auth`)
  assert.equal(grafana['grafana.ini']['auth.generic_oauth'].enabled, true)
  const admin = placeIn(entry('grafana-admin'), 'monitoring')
  assert.deepEqual(grafana.admin, {
    existingSecret: admin.name,
    userKey: 'admin-user',
    passwordKey: 'admin-password',
  })
  assert.deepEqual(Object.keys(entry('grafana-admin').keys), ['admin-user', 'admin-password'])
})

test("Vault's OIDC role redirect URIs (configured by bootstrap) are Dex's vault client's", () => {
  const client = (dex.staticClients as DexClient[]).find((c) => c.id === 'vault') as DexClient
  assert.deepEqual(client.redirectURIs, vaultRedirectUris(DOMAIN))
  placeIn(entry('oidc-vault'), 'vault')
})

test("ArgoCD's oidc.config (applied by bootstrap) matches Dex's argocd client: issuer, client ID, secret reference, callback URL", () => {
  const client = (dex.staticClients as DexClient[]).find((c) => c.id === 'argocd') as DexClient
  const [cm, rbac] = argocdSsoObjects(DOMAIN)
  const data = cm?.data as Record<string, string>
  const oidc = parse(data['oidc.config'] as string) as Json
  assert.equal(oidc.issuer, dex.issuer)
  const s = entry('oidc-argocd')
  assert.equal(oidc.clientID, fixedValue(s, 'client-id'))
  const p = placeIn(s, 'argocd')
  assert.equal(p.name, ARGOCD_OIDC_SECRET)
  // ArgoCD resolves $<secret>:<key> only in Secrets labelled part-of argocd
  assert.equal(oidc.clientSecret, `$${p.name}:${keyOf(p, 'client-secret')}`)
  assert.equal(p.labels?.['app.kubernetes.io/part-of'], 'argocd')
  assert.equal(data.url, argocdUrl(DOMAIN))
  assert.deepEqual(client.redirectURIs, [`${data.url}/auth/callback`])
  // the route bootstrap/argocd serves is that URL's host
  const route = rendered.find(
    (m) => m.manifest.kind === 'HTTPRoute' && (m.manifest.metadata as Json).name === 'argocd',
  )
  assert.ok(route)
  assert.deepEqual((route.manifest as Json).spec.hostnames, [new URL(data.url as string).host])
  assert.match(
    (rbac as unknown as { data: Record<string, string> }).data['policy.csv'] as string,
    new RegExp(`^g, ${adminEmail(DOMAIN)}, role:admin$`, 'm'),
  )
})

test('no rendered template of dex, gitea, monitoring, argocd or paperless writes a generated Secret (a re-render or sync cannot change one)', () => {
  const names = new Set(GENERATED_SECRETS.flatMap((s) => s.places.map((p) => p.name)))
  const clash = rendered.filter(
    (m) => m.manifest.kind === 'Secret' && names.has((m.manifest.metadata as Json).name),
  )
  assert.deepEqual(clash, [])
  // paperless reads its generated key by reference
  const paperless = parse(readFileSync(`${ROOT}/apps/paperless/values.yaml`, 'utf8')) as Json
  const ref = paperless['paperless-ngx'].env.PAPERLESS_SECRET_KEY.valueFrom.secretKeyRef
  const key = placeIn(entry('paperless-secret-key'), 'paperless')
  assert.deepEqual(ref, { name: key.name, key: 'PAPERLESS_SECRET_KEY' })
  assert.ok(rendered.length > 3)
})
