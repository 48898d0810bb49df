import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { HelmRenderError, renderChart } from '../render/helm.ts'
import { SHARED_GATEWAY } from '../validate/routes.ts'

// homelab.routes (templates/_routes.tpl) rendered by real Helm (the pinned binary of lib/toolbox).

const repo = join(import.meta.dirname, '../..')
const homelab = { domain: 'lab.example', clusterIssuer: 'homelab-selfsigned', timezone: 'UTC' }
let dir = ''

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested manifest fields
type Manifest = Record<string, any>

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'homelab-lib-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A chart that only calls homelab.routes, with `routes` as given. */
async function chartWith(name: string, routes: unknown[]): Promise<string> {
  const chart = join(dir, name)
  await mkdir(join(chart, 'templates'), { recursive: true })
  await writeFile(
    join(chart, 'Chart.yaml'),
    `apiVersion: v2\nname: ${name}\nversion: 0.1.0\ndependencies:\n  - name: homelab-lib\n    version: 0.1.0\n    repository: file://${join(repo, 'bootstrap/lib')}\n`,
  )
  await writeFile(join(chart, 'templates/routes.yaml'), '{{ include "homelab.routes" . }}\n')
  await writeFile(join(chart, 'values.yaml'), JSON.stringify({ routes }))
  return chart
}

test('homelab.routes renders an HTTPRoute per item: <host>.<domain> on the shared Gateway https listener, to the Service port', async () => {
  const chart = await chartWith('web', [
    { name: 'web', host: 'www', service: 'web-svc', port: 8080 },
    { name: 'admin', host: 'admin', service: 'web-admin', port: 9000 },
  ])
  const [web, admin] = (await renderChart(chart, { global: { homelab } })).map((m) => m.manifest as Manifest)
  assert.equal(web?.apiVersion, 'gateway.networking.k8s.io/v1')
  assert.equal(web?.kind, 'HTTPRoute')
  assert.equal(web?.metadata.name, 'web')
  assert.equal(web?.metadata.annotations, undefined)
  assert.deepEqual(web?.spec, {
    parentRefs: [
      {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        namespace: SHARED_GATEWAY.namespace,
        name: SHARED_GATEWAY.name,
        sectionName: 'https',
      },
    ],
    hostnames: ['www.lab.example'],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [{ group: '', kind: 'Service', name: 'web-svc', port: 8080 }],
      },
    ],
  })
  assert.deepEqual(admin?.spec.hostnames, ['admin.lab.example'])
  assert.deepEqual(admin?.spec.rules[0].backendRefs, [
    { group: '', kind: 'Service', name: 'web-admin', port: 9000 },
  ])
})

test('homelab.routes keeps each route annotations (homepage discovery), every value a string', async () => {
  const chart = await chartWith('annotated', [
    {
      name: 'web',
      host: 'www',
      service: 'web',
      port: 80,
      annotations: {
        'gethomepage.dev/enabled': true,
        'gethomepage.dev/name': 'Web',
        'example.com/weight': 3,
      },
    },
  ])
  const [web] = (await renderChart(chart, { global: { homelab } })).map((m) => m.manifest as Manifest)
  assert.deepEqual(web?.metadata.annotations, {
    'gethomepage.dev/enabled': 'true',
    'gethomepage.dev/name': 'Web',
    'example.com/weight': '3',
  })
})

test('homelab.routes marks each route proxied for external-dns only with external.cloudflare (the tunnel)', async () => {
  const chart = await chartWith('proxied', [
    { name: 'web', host: 'www', service: 'web', port: 80, annotations: { 'gethomepage.dev/name': 'Web' } },
    { name: 'bare', host: 'bare', service: 'bare', port: 80 },
  ])
  const annotations = async (global: object) =>
    (await renderChart(chart, { global })).map((m) => (m.manifest as Manifest).metadata.annotations)
  assert.deepEqual(await annotations({ homelab }), [{ 'gethomepage.dev/name': 'Web' }, undefined])
  const cloudflare = { zone: 'lab.example', accountId: '0123456789abcdef0123456789abcdef' }
  assert.deepEqual(await annotations({ homelab: { ...homelab, cloudflare } }), [
    { 'gethomepage.dev/name': 'Web', 'external-dns.alpha.kubernetes.io/cloudflare-proxied': 'true' },
    { 'external-dns.alpha.kubernetes.io/cloudflare-proxied': 'true' },
  ])
})

test('homelab.routes refuses an item without a service, naming the route and the field', async () => {
  const chart = await chartWith('incomplete', [{ name: 'web', host: 'www', port: 80 }])
  await assert.rejects(renderChart(chart, { global: { homelab } }), (error: unknown) => {
    assert.ok(error instanceof HelmRenderError)
    assert.match(error.detail, /routes "web": has no service: set name, host, service and port/)
    return true
  })
})

test('the Grafana route of system/monitoring reaches the cluster with its gethomepage.dev annotations', async () => {
  const manifests = await renderChart(join(repo, 'system/monitoring'), { global: { homelab } })
  const grafana = manifests.map((m) => m.manifest as Manifest).find((m) => m.kind === 'HTTPRoute')
  assert.equal(grafana?.metadata.name, 'grafana')
  assert.deepEqual(grafana?.spec.hostnames, ['grafana.lab.example'])
  assert.equal(grafana?.metadata.annotations['gethomepage.dev/enabled'], 'true')
  assert.equal(grafana?.metadata.annotations['gethomepage.dev/name'], 'Grafana')
})
