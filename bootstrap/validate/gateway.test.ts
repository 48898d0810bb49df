import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../core/config/load.ts'
import { renderChart } from '../render/helm.ts'
import { type ClusterSettings, clusterSettings } from '../settings.ts'
import { SHARED_GATEWAY } from './routes.ts'

// The shared Gateway and what points at it (system/envoy-gateway, system/cert-manager,
// system/cloudflared), our templates rendered by real Helm with settings from homelab.yaml.

const repo = join(import.meta.dirname, '../..')

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested manifest fields
type Manifest = Record<string, any>

type External = {
  cloudflare?: { accountId: string; zone: string }
  letsencrypt?: { email: string; server: 'staging' }
}

async function settings(external: External = {}): Promise<ClusterSettings> {
  const { config, derived } = await loadConfig(join(repo, 'homelab.yaml'))
  return clusterSettings({ ...config, external }, derived, config.gitops.seed.url)
}

async function render(folder: string, s: ClusterSettings): Promise<Manifest[]> {
  return (await renderChart(join(repo, folder), { global: { homelab: s } })).map(
    (m) => m.manifest as Manifest,
  )
}

const cloudflare = { accountId: '0123456789abcdef0123456789abcdef', zone: 'home.arpa' }
const letsencrypt = { email: 'you@example.com', server: 'staging' as const }

test('system/envoy-gateway renders the shared Gateway: https on *.<domain> with the issuer annotation, http only redirecting', async () => {
  const manifests = await render('system/envoy-gateway', await settings())
  const gateway = manifests.find((m) => m.kind === 'Gateway')
  assert.equal(gateway?.metadata.name, SHARED_GATEWAY.name)
  assert.equal(gateway?.metadata.namespace ?? 'envoy-gateway', SHARED_GATEWAY.namespace)
  assert.equal(gateway?.metadata.annotations['cert-manager.io/cluster-issuer'], 'homelab-selfsigned')
  const [http, https] = gateway?.spec.listeners ?? []
  assert.deepEqual(
    [http.name, http.protocol, http.port, http.hostname, http.allowedRoutes.namespaces.from],
    ['http', 'HTTP', 80, '*.lab.home.arpa', 'Same'],
  )
  assert.deepEqual(
    [https.name, https.protocol, https.port, https.hostname, https.allowedRoutes.namespaces.from],
    ['https', 'HTTPS', 443, '*.lab.home.arpa', 'All'],
  )
  assert.deepEqual(https.tls, {
    mode: 'Terminate',
    certificateRefs: [{ group: '', kind: 'Secret', name: 'lab-home-arpa-wildcard-tls' }],
  })
  const redirect = manifests.find((m) => m.kind === 'HTTPRoute')
  assert.deepEqual(redirect?.spec.parentRefs[0].sectionName, 'http')
  assert.deepEqual(redirect?.spec.rules, [
    { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] },
  ])
  const gatewayClass = manifests.find((m) => m.kind === 'GatewayClass')
  assert.equal(gateway?.spec.gatewayClassName, gatewayClass?.metadata.name)
  assert.equal(gatewayClass?.spec.controllerName, 'gateway.envoyproxy.io/gatewayclass-controller')
  const proxy = manifests.find((m) => m.kind === 'EnvoyProxy')
  assert.equal(gatewayClass?.spec.parametersRef.name, proxy?.metadata.name)
  assert.equal(gatewayClass?.spec.parametersRef.namespace, 'envoy-gateway')
})

test('system/envoy-gateway: the Gateway names tunnel.<domain> as external-dns target only with external.cloudflare', async () => {
  const annotations = async (external: External) =>
    (await render('system/envoy-gateway', await settings(external))).find((m) => m.kind === 'Gateway')
      ?.metadata.annotations
  // Without the tunnel, external-dns publishes the Gateway's LAN address (its status), as before.
  assert.equal((await annotations({}))['external-dns.alpha.kubernetes.io/target'], undefined)
  assert.equal(
    (await annotations({ cloudflare }))['external-dns.alpha.kubernetes.io/target'],
    'tunnel.lab.home.arpa',
  )
  // With it, each route's host is a CNAME to tunnel.<domain>, which `homelab external` keeps to the
  // tunnel (external/names.ts tunnelHostname); the redirect's *.<domain> is left to the tunnel's
  // wildcard record: external-dns skips a route whose controller annotation is not its own.
  const redirect = async (external: External) =>
    (await render('system/envoy-gateway', await settings(external))).find((m) => m.kind === 'HTTPRoute')
      ?.metadata.annotations
  assert.equal(await redirect({}), undefined)
  assert.deepEqual(await redirect({ cloudflare }), { 'external-dns.alpha.kubernetes.io/controller': 'none' })
})

test("system/cloudflared's origin is the shared Gateway's Service, on the https listener's port", async () => {
  const s = await settings()
  const proxy = (await render('system/envoy-gateway', s)).find((m) => m.kind === 'EnvoyProxy')
  const service = proxy?.spec.provider.kubernetes.envoyService
  assert.equal(service.type, 'LoadBalancer')
  const deployment = (await render('system/cloudflared', s)).find((m) => m.kind === 'Deployment')
  assert.equal(
    deployment?.metadata.annotations['homelab.dev/origin'],
    `https://${service.name}.${SHARED_GATEWAY.namespace}.svc:443`,
  )
})

test("clusterSettings() picks Let's Encrypt only with the Cloudflare zone (the wildcard needs DNS-01), else the self-signed issuer", async () => {
  assert.equal((await settings()).clusterIssuer, 'homelab-selfsigned')
  assert.equal((await settings({ letsencrypt })).clusterIssuer, 'homelab-selfsigned')
  assert.equal((await settings({ cloudflare })).clusterIssuer, 'homelab-selfsigned')
  assert.equal((await settings({ cloudflare, letsencrypt })).clusterIssuer, 'letsencrypt-staging')
})

test("system/cert-manager: the Let's Encrypt issuers solve DNS-01 in the Cloudflare zone, and exist only with it", async () => {
  const issuers = async (external: External) =>
    (await render('system/cert-manager', await settings(external))).filter((m) => m.kind === 'ClusterIssuer')
  assert.deepEqual(
    (await issuers({ letsencrypt })).map((i) => i.metadata.name),
    ['homelab-selfsigned'],
  )
  const all = await issuers({ cloudflare, letsencrypt })
  assert.deepEqual(
    all.map((i) => i.metadata.name),
    ['letsencrypt-staging', 'letsencrypt-production', 'homelab-selfsigned'],
  )
  const staging = all[0]
  assert.equal(staging?.spec.acme.server, 'https://acme-staging-v02.api.letsencrypt.org/directory')
  assert.equal(all[1]?.spec.acme.server, 'https://acme-v02.api.letsencrypt.org/directory')
  assert.equal(staging?.spec.acme.email, 'you@example.com')
  assert.deepEqual(staging?.spec.acme.solvers, [
    {
      selector: { dnsZones: ['home.arpa'] },
      dns01: { cloudflare: { apiTokenSecretRef: { name: 'cloudflare-api-token', key: 'api-token' } } },
    },
  ])
  // The Gateway then names that issuer.
  const gateway = (await render('system/envoy-gateway', await settings({ cloudflare, letsencrypt }))).find(
    (m) => m.kind === 'Gateway',
  )
  assert.equal(gateway?.metadata.annotations['cert-manager.io/cluster-issuer'], 'letsencrypt-staging')
})
