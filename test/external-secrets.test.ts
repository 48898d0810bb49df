/**
 * The Secrets `homelab external` writes (external/names.ts) are the ones the components read, as
 * real Helm renders them with settings from homelab.yaml: system/cloudflared's Deployment, the
 * cert-manager ClusterIssuers, and external-dns's container env. The external-dns chart is an
 * upstream chart that is not rendered offline (no archive without internet), so its env is read
 * from the values our wrapper passes: the chart writes `.Values.env` into the container as is
 * (kubernetes-sigs/external-dns charts/external-dns/templates/deployment.yaml, `toYaml .Values.env`).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { renderChart } from '../bootstrap/render/helm.ts'
import { clusterSettings } from '../bootstrap/settings.ts'
import { loadConfig } from '../core/config/load.ts'
import { TOKEN_SECRETS, TUNNEL_SECRET } from '../external/index.ts'

const repo = join(import.meta.dirname, '..')

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested manifest fields
type Manifest = Record<string, any>

async function render(folder: string, withExternal: boolean): Promise<Manifest[]> {
  const { config, derived } = await loadConfig(join(repo, 'core/config/fixtures/valid/external.yaml'))
  const external = withExternal ? config.external : undefined
  const settings = clusterSettings({ ...config, external }, derived, config.gitops.seed.url)
  return (await renderChart(join(repo, folder), { global: { homelab: settings } })).map(
    (m) => m.manifest as Manifest,
  )
}

test('system/cloudflared reads the tunnel token from the Secret homelab external writes', async () => {
  const deployment = (await render('system/cloudflared', true)).find((m) => m.kind === 'Deployment')
  const env = deployment?.spec.template.spec.containers[0].env.find(
    (e: Manifest) => e.name === 'TUNNEL_TOKEN',
  )
  assert.deepEqual(env?.valueFrom.secretKeyRef, { name: TUNNEL_SECRET.name, key: TUNNEL_SECRET.key })
  assert.equal(deployment?.metadata.namespace ?? 'cloudflared', TUNNEL_SECRET.namespace)
})

test("the cert-manager Let's Encrypt issuers read the DNS-01 token from the Secret homelab external writes, in cert-manager's namespace", async () => {
  const issuers = (await render('system/cert-manager', true)).filter((m) => m.kind === 'ClusterIssuer')
  const acme = issuers.filter((i) => i.spec.acme !== undefined)
  assert.deepEqual(
    acme.map((i) => i.metadata.name),
    ['letsencrypt-staging', 'letsencrypt-production'],
  )
  const ref = TOKEN_SECRETS['cert-manager']
  for (const issuer of acme) {
    assert.deepEqual(issuer.spec.acme.solvers[0].dns01.cloudflare.apiTokenSecretRef, {
      name: ref.name,
      key: ref.key,
    })
  }
  // ClusterIssuers read Secrets from the cluster resource namespace: the chart's, cert-manager
  assert.equal(ref.namespace, 'cert-manager')
})

test('without external: only the self-signed issuer renders, so nothing waits on ACME', async () => {
  const issuers = (await render('system/cert-manager', false)).filter((m) => m.kind === 'ClusterIssuer')
  assert.deepEqual(
    issuers.map((i) => i.metadata.name),
    ['homelab-selfsigned'],
  )
})

test('external-dns reads CF_API_TOKEN from the Secret homelab external writes', async () => {
  const values = parse(await readFile(join(repo, 'system/external-dns/values.yaml'), 'utf8')) as Manifest
  const env = values['external-dns'].env.find((e: Manifest) => e.name === 'CF_API_TOKEN')
  const ref = TOKEN_SECRETS['external-dns']
  assert.deepEqual(env?.valueFrom.secretKeyRef, { name: ref.name, key: ref.key })
  assert.equal(ref.namespace, 'external-dns', 'the folder name is the namespace (bootstrap/root)')
})
