import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../core/config/load.ts'
import { generatedFolders } from '../root/discover.ts'
import { clusterSettings } from '../settings.ts'
import { chartProblems, validateComponents } from './components.ts'

const repo = join(import.meta.dirname, '../..')
const fixtures = join(import.meta.dirname, 'fixtures')

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested manifest fields
type Manifest = Record<string, any>

const LAYERS = ['bootstrap', 'system', 'platform', 'apps']
/** The order validateComponents() walks the folders: by layer, then by name. */
const byLayer = (a: string, b: string) => {
  const [la = '', na = ''] = a.split('/')
  const [lb = '', nb = ''] = b.split('/')
  return LAYERS.indexOf(la) - LAYERS.indexOf(lb) || na.localeCompare(nb)
}

async function shippedSettings(domain?: string) {
  const loaded = await loadConfig(join(repo, 'homelab.yaml'))
  const config =
    domain === undefined ? loaded.config : { ...loaded.config, gitops: { ...loaded.config.gitops, domain } }
  return clusterSettings(config, loaded.derived, config.gitops.seed.url)
}

async function problemsOf(fixture: string) {
  const { problems } = await validateComponents(join(fixtures, fixture), await shippedSettings())
  return problems.map((p) => `${p.file}: ${p.message}`)
}

test('validateComponents() renders the own templates of every shipped component with real Helm and finds no problem', async () => {
  // An empty chart cache: our templates only, whatever a developer fetched into .cache/charts.
  const chartCache = await mkdtemp(join(tmpdir(), 'chart-cache-'))
  try {
    const folders = (await generatedFolders(repo)).filter((f) => f.source === 'chart')
    const { problems, components, notRendered } = await validateComponents(
      repo,
      await shippedSettings(),
      undefined,
      {
        chartCache,
      },
    )
    assert.deepEqual(problems, [])
    assert.deepEqual(
      components.map((c) => c.folder.path),
      folders.map((f) => f.path),
      'every component rendered',
    )
    assert.ok(components.some((c) => c.folder.path === 'bootstrap/root'))
    for (const { dependency } of notRendered) assert.doesNotMatch(dependency.repository, /^file:/)
  } finally {
    await rm(chartCache, { recursive: true, force: true })
  }
})

test('validateComponents() accepts a wrapper chart using homelab-lib (fixture good)', async () => {
  assert.deepEqual(await problemsOf('good'), [])
})

test('validateComponents() catches a version range (fixture range-version)', async () => {
  assert.deepEqual(await problemsOf('range-version'), [
    'apps/web/Chart.yaml: dependencies[0] (nginx): version "^18.0.0" is not pinned: use an exact version like 1.2.3 (no ranges, x, ^, ~, <, >)',
  ])
})

test('validateComponents() catches a missing repository (fixture missing-repository)', async () => {
  assert.deepEqual(await problemsOf('missing-repository'), [
    "apps/web/Chart.yaml: dependencies[0] (nginx): repository undefined is not an https://, oci:// or file:// URL: set the chart's repository",
  ])
})

test('validateComponents() reports what real Helm refuses, at the template file and line (fixture helm-error)', async () => {
  assert.deepEqual(await problemsOf('helm-error'), [
    'apps/web/templates/config.yaml:6: helm template failed: parse error at (web/templates/config.yaml:6): function "nosuchfunction" not defined',
  ])
})

test('validateComponents() catches routes off the domain, off the shared Gateway or its https listener, and backends the render lacks (fixture bad-route)', async () => {
  const file = 'apps/web/templates/routes.yaml'
  assert.deepEqual(await problemsOf('bad-route'), [
    `${file}: HTTPRoute "foreign-host": hostname "web.example.com" is not under the domain "lab.home.arpa": use the homelab.routes helper (<host>.<global.homelab.domain>)`,
    `${file}: HTTPRoute "other-gateway": parentRef "web/my-gateway" is not the shared Gateway "envoy-gateway/homelab": use the homelab.routes helper (bootstrap/lib)`,
    `${file}: HTTPRoute "missing-backend": backend Service "nosuch" is not rendered by this component: set routes[].service to one of [web]`,
    `${file}: HTTPRoute "missing-backend": backend Service "web" has no port 8080: set routes[].port to one of [80]`,
    `${file}: HTTPRoute "http-listener": attaches to listener "http", not "https": set sectionName: https (the http listener only redirects)`,
  ])
})

test('validateComponents() checks a route built by homelab.routes against the Service the component renders (fixture good)', async () => {
  const { components } = await validateComponents(join(fixtures, 'good'), await shippedSettings())
  assert.deepEqual(components[0]?.backends, [
    { route: 'web', hostnames: ['web.lab.home.arpa'], service: 'web', port: 80, state: 'checked' },
  ])
})

test('validateComponents() catches a namespace used in two layers (fixture duplicate-namespace)', async () => {
  assert.deepEqual(await problemsOf('duplicate-namespace'), [
    'apps/web: namespace "web" is also system/web\'s: folder names are namespaces and must be unique across layers',
  ])
})

test('validateComponents() checks manifests against the Kubernetes, Gateway API, Envoy Gateway and MetalLB schemas (fixture bad-schema)', async () => {
  const problems = await problemsOf('bad-schema')
  // Helm orders the objects by kind (Services before custom resources).
  const file = 'apps/web/templates/pool.yaml'
  assert.equal(problems.length, 5, problems.join('\n'))
  assert.match(
    problems[0] ?? '',
    /^apps\/web\/templates\/pool\.yaml: Service "web": \/spec\/ports\/0\/port: must be integer/,
  )
  assert.equal(
    problems[1],
    `${file}: EnvoyProxy "web": spec.provider.kubernetes: Unrecognized key: "envoyServce"`,
  )
  assert.equal(
    problems[2],
    `${file}: HTTPRoute "web": /spec/rules/0/matches/0/path/type: must be equal to one of the allowed values`,
  )
  assert.match(problems[3] ?? '', /^apps\/web\/templates\/pool\.yaml: IPAddressPool "web": spec\.addresses: /)
  assert.match(
    problems[4] ?? '',
    /^apps\/web\/templates\/pool\.yaml: IPAddressPool "web": spec: Unrecognized key: "adresses"/,
  )
})

test('chartProblems() table: versions and repositories', () => {
  const chart = (version: string, repository: string) =>
    `apiVersion: v2\nname: x\nversion: 0.1.0\ndependencies:\n  - name: d\n    version: "${version}"\n    repository: ${repository}\n`
  const pinned = ['1.2.3', 'v1.19.4', '0.0.1-rc.1', '2.0.0+build.5']
  const unpinned = ['1.2', '1.2.x', '^1.2.3', '~1.2.3', '>=1.2.3', '<2.0.0', '1.2.3 - 1.4.0', '*', '01.2.3']
  for (const v of pinned) assert.deepEqual(chartProblems(chart(v, 'https://charts.example.com'), 'x'), [], v)
  for (const v of unpinned)
    assert.match(chartProblems(chart(v, 'oci://r.example.com/c'), 'x')[0] ?? '', /is not pinned/, v)
  for (const r of ['https://a.b', 'oci://a.b/c', 'file://../../bootstrap/lib'])
    assert.deepEqual(chartProblems(chart('1.0.0', r), 'x'), [], r)
  for (const r of ['http://a.b', 'a.b', '"@stable"'])
    assert.match(chartProblems(chart('1.0.0', r), 'x')[0] ?? '', /is not an https:\/\//, r)
  assert.deepEqual(chartProblems('apiVersion: v1\nname: y\nversion: one\n', 'x'), [
    'apiVersion is "v1": set apiVersion: v2',
    'name is "y": set name: x (the folder\'s name)',
    'version "one" is not a semver version: set version: 0.1.0',
  ])
})

/** Every routed component: the route's host label, its backend Service and port. */
const ROUTES: Readonly<Record<string, readonly [string, string, string, number]>> = {
  'bootstrap/argocd': ['argocd', 'argocd', 'argocd-server', 80],
  'system/monitoring': ['grafana', 'grafana', 'grafana', 80],
  'platform/dex': ['dex', 'dex', 'dex', 5556],
  'platform/gitea': ['gitea', 'git', 'gitea-http', 3000],
  'platform/vault': ['vault', 'vault', 'vault', 8200],
  'apps/homepage': ['homepage', 'home', 'homepage', 3000],
  'apps/jellyfin': ['jellyfin', 'jellyfin', 'jellyfin', 8096],
  'apps/matrix': ['matrix', 'matrix', 'synapse', 8008],
  'apps/paperless': ['paperless', 'paperless', 'paperless', 8000],
}

test('every routed component has its HTTPRoute at <host>.<domain> on the shared Gateway, with a backend its render defines or an upstream chart left unrendered', async () => {
  // The chart cache as a developer filled it (homelab validate --fetch): an upstream chart found
  // there is rendered whole, and its routes' backends are checked against it.
  const { problems, components } = await validateComponents(repo, await shippedSettings())
  assert.deepEqual(problems, [])
  const routed = components.filter((c) => c.manifests.some((m) => m.manifest.kind === 'HTTPRoute'))
  assert.deepEqual(
    routed.map((c) => c.folder.path),
    [...Object.keys(ROUTES), 'system/envoy-gateway'].sort(byLayer),
    'the routed components (envoy-gateway: the https redirect)',
  )
  const covered: string[] = []
  for (const { folder, manifests, backends } of routed) {
    const expected = ROUTES[folder.path]
    if (expected === undefined) continue
    const [name, host, service, port] = expected
    const route = manifests.find((m) => m.manifest.kind === 'HTTPRoute')?.manifest as Manifest
    assert.equal(route.metadata.name, name, folder.path)
    assert.deepEqual(route.spec.hostnames, [`${host}.lab.home.arpa`], folder.path)
    assert.deepEqual(
      route.spec.parentRefs,
      [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          namespace: 'envoy-gateway',
          name: 'homelab',
          sectionName: 'https',
        },
      ],
      folder.path,
    )
    assert.equal(backends.length, 1, folder.path)
    const backend = backends[0]
    assert.deepEqual([backend?.service, backend?.port], [service, port], folder.path)
    if (backend?.state === 'checked') covered.push(folder.path)
    else
      assert.match(
        backend?.reason ?? '',
        /^(the upstream chart, not rendered|bootstrap\/argocd\/install )/,
        folder.path,
      )
  }
  // Our own templates define Synapse's Service: that backend is checked with or without a cache.
  assert.ok(covered.includes('apps/matrix'), covered.join(', '))
})

test('changing gitops.domain changes every route hostname, the Gateway listeners and the certificate name', async () => {
  const names = async (domain: string) => {
    // Components that fail to render are reported by the test above; this one compares the others.
    const { components } = await validateComponents(repo, await shippedSettings(domain))
    const out: string[] = []
    for (const { folder, manifests } of components) {
      for (const { manifest } of manifests) {
        const m = manifest as Manifest
        if (m.kind === 'HTTPRoute')
          for (const h of m.spec.hostnames) out.push(`${folder.path} route ${m.metadata.name} ${h}`)
        if (m.kind !== 'Gateway') continue
        for (const l of m.spec.listeners) {
          out.push(`${folder.path} listener ${l.name} ${l.hostname}`)
          for (const ref of l.tls?.certificateRefs ?? [])
            out.push(`${folder.path} certificate ${ref.name} ${l.hostname}`)
        }
      }
    }
    return out
  }
  const a = await names('lab.home.arpa')
  const b = await names('other.example.org')
  assert.ok(a.length > Object.keys(ROUTES).length, 'the shipped components have routes and a Gateway')
  assert.ok(
    a.includes('system/envoy-gateway certificate lab-home-arpa-wildcard-tls *.lab.home.arpa'),
    a.join('\n'),
  )
  assert.equal(a.length, b.length)
  for (const [i, line] of a.entries()) {
    assert.match(line, /\.lab\.home\.arpa$/)
    assert.equal(
      b[i],
      line.replaceAll('lab.home.arpa', 'other.example.org').replaceAll('lab-home-arpa', 'other-example-org'),
    )
  }
})
