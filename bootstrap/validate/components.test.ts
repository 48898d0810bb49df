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

test('validateComponents() catches an ingress with a foreign host (fixture foreign-host)', async () => {
  assert.deepEqual(await problemsOf('foreign-host'), [
    'apps/web/templates/ingress.yaml: Ingress "web": host "web.example.com" is not under the domain "lab.home.arpa": use the homelab.ingresses helper (<host>.<global.homelab.domain>)',
    'apps/web/templates/ingress.yaml: Ingress "web": host "web.example.com" is not under the domain "lab.home.arpa": use the homelab.ingresses helper (<host>.<global.homelab.domain>)',
  ])
})

test('validateComponents() catches a namespace used in two layers (fixture duplicate-namespace)', async () => {
  assert.deepEqual(await problemsOf('duplicate-namespace'), [
    'apps/web: namespace "web" is also system/web\'s: folder names are namespaces and must be unique across layers',
  ])
})

test('validateComponents() checks manifests against the Kubernetes and MetalLB schemas (fixture bad-schema)', async () => {
  const problems = await problemsOf('bad-schema')
  // Helm orders the objects by kind (Services before custom resources).
  assert.equal(problems.length, 3, problems.join('\n'))
  assert.match(
    problems[0] ?? '',
    /^apps\/web\/templates\/pool\.yaml: Service "web": \/spec\/ports\/0\/port: must be integer/,
  )
  assert.match(problems[1] ?? '', /^apps\/web\/templates\/pool\.yaml: IPAddressPool "web": spec\.addresses: /)
  assert.match(
    problems[2] ?? '',
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

test('changing gitops.domain changes every ingress host and TLS host of every component', async () => {
  const hosts = async (domain: string) => {
    // Components that fail to render are reported by the test above; this one compares the others.
    const { components } = await validateComponents(repo, await shippedSettings(domain))
    const out: string[] = []
    for (const { folder, manifests } of components) {
      for (const { manifest } of manifests.filter((m) => m.manifest.kind === 'Ingress')) {
        const spec = manifest.spec as {
          rules: { host: string }[]
          tls: { hosts: string[]; secretName: string }[]
        }
        for (const r of spec.rules) out.push(`${folder.path} rule ${r.host}`)
        for (const t of spec.tls) for (const h of t.hosts) out.push(`${folder.path} tls ${t.secretName} ${h}`)
      }
    }
    return out
  }
  const a = await hosts('lab.home.arpa')
  const b = await hosts('other.example.org')
  assert.ok(a.length > 0, 'the shipped components have ingresses')
  assert.equal(a.length, b.length)
  for (const [i, line] of a.entries()) {
    assert.match(line, /\.lab\.home\.arpa$/)
    assert.equal(b[i], line.replace(/lab\.home\.arpa$/, 'other.example.org'))
  }
})
