import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { HelmRenderError, renderChart } from '../render/helm.ts'

// homelab.ingresses (templates/_ingress.tpl) rendered by real Helm (the pinned binary of lib/toolbox).

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

/** A chart that only calls homelab.ingresses, with `ingresses` as given. */
async function chartWith(name: string, ingresses: unknown[]): Promise<string> {
  const chart = join(dir, name)
  await mkdir(join(chart, 'templates'), { recursive: true })
  await writeFile(
    join(chart, 'Chart.yaml'),
    `apiVersion: v2\nname: ${name}\nversion: 0.1.0\ndependencies:\n  - name: homelab-lib\n    version: 0.1.0\n    repository: file://${join(repo, 'bootstrap/lib')}\n`,
  )
  await writeFile(join(chart, 'templates/ingresses.yaml'), '{{ include "homelab.ingresses" . }}\n')
  await writeFile(join(chart, 'values.yaml'), JSON.stringify({ ingresses }))
  return chart
}

test('homelab.ingresses keeps each ingress annotations beside the issuer, every value a string', async () => {
  const chart = await chartWith('web', [
    {
      name: 'web',
      host: 'www',
      service: 'web',
      port: 8080,
      annotations: {
        'gethomepage.dev/enabled': true,
        'gethomepage.dev/name': 'Web',
        'example.com/weight': 3,
      },
    },
    { name: 'plain', host: 'plain', service: 'plain', port: 80 },
  ])
  const [web, plain] = (await renderChart(chart, { global: { homelab } })).map((m) => m.manifest as Manifest)
  assert.deepEqual(web?.metadata.annotations, {
    'cert-manager.io/cluster-issuer': 'homelab-selfsigned',
    'gethomepage.dev/enabled': 'true',
    'gethomepage.dev/name': 'Web',
    'example.com/weight': '3',
  })
  assert.deepEqual(web?.spec.rules[0].host, 'www.lab.example')
  assert.deepEqual(web?.spec.tls, [{ hosts: ['www.lab.example'], secretName: 'web-tls' }])
  assert.equal(web?.spec.rules[0].http.paths[0].backend.service.port.number, 8080)
  assert.deepEqual(plain?.metadata.annotations, { 'cert-manager.io/cluster-issuer': 'homelab-selfsigned' })
})

test('homelab.ingresses refuses an ingress that sets the issuer annotation itself', async () => {
  const chart = await chartWith('issuer', [
    {
      name: 'web',
      host: 'www',
      service: 'web',
      port: 80,
      annotations: { 'cert-manager.io/cluster-issuer': 'other' },
    },
  ])
  await assert.rejects(renderChart(chart, { global: { homelab } }), (error: unknown) => {
    assert.ok(error instanceof HelmRenderError)
    assert.match(error.detail, /ingresses "web": annotations sets cert-manager\.io\/cluster-issuer/)
    return true
  })
})

test('the Grafana ingress of system/monitoring reaches the cluster with its gethomepage.dev annotations', async () => {
  const manifests = await renderChart(join(repo, 'system/monitoring'), { global: { homelab } })
  const grafana = manifests.map((m) => m.manifest as Manifest).find((m) => m.kind === 'Ingress')
  assert.equal(grafana?.metadata.name, 'grafana')
  assert.equal(grafana?.metadata.annotations['gethomepage.dev/enabled'], 'true')
  assert.equal(grafana?.metadata.annotations['gethomepage.dev/name'], 'Grafana')
  assert.equal(grafana?.metadata.annotations['cert-manager.io/cluster-issuer'], 'homelab-selfsigned')
})
