import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { clusterSettings } from '../../bootstrap/settings.ts'
import { validateComponents } from '../../bootstrap/validate/components.ts'
import { loadConfig } from '../../core/config/load.ts'
import { parseChartRef, scaffoldService } from './new-service.ts'

const repo = join(import.meta.dirname, '../..')

async function withRepo(run: (root: string) => Promise<void>) {
  const root = await mkdtemp(join(tmpdir(), 'new-service-'))
  try {
    await mkdir(join(root, 'bootstrap'))
    await symlink(join(repo, 'bootstrap/lib'), join(root, 'bootstrap/lib'))
    await run(root)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

test('scaffoldService() writes a wrapper chart that passes validation, its HTTPRoute at NAME.<domain>', async () => {
  await withRepo(async (root) => {
    const folder = await scaffoldService(root, {
      name: 'wiki',
      layer: 'apps',
      chart: 'oci://registry.example.com/charts/wikijs@2.4.1',
    })
    assert.equal(folder, 'apps/wiki')
    const chart = await readFile(join(root, folder, 'Chart.yaml'), 'utf8')
    assert.match(
      chart,
      /- name: wikijs\n {4}version: 2\.4\.1\n {4}repository: oci:\/\/registry\.example\.com\/charts\n/,
    )
    const { config, derived } = await loadConfig(join(repo, 'homelab.yaml'))
    const settings = clusterSettings(config, derived, config.gitops.seed.url)
    const { problems, components } = await validateComponents(root, settings, [
      { layer: 'apps', name: 'wiki', path: folder, source: 'chart' },
    ])
    assert.deepEqual(problems, [])
    const route = components[0]?.manifests[0]?.manifest as {
      kind: string
      spec: { hostnames: string[]; parentRefs: { name: string }[] }
    }
    assert.equal(route.kind, 'HTTPRoute')
    assert.deepEqual(route.spec.hostnames, [`wiki.${settings.domain}`])
    assert.equal(route.spec.parentRefs[0]?.name, 'homelab')
    // The upstream chart (and its Service) is not rendered offline: the backend stays unverified.
    assert.deepEqual(
      components[0]?.backends.map((b) => `${b.service}:${b.port} ${b.state}`),
      ['wiki:80 unverified'],
    )
  })
})

test('scaffoldService() refuses an existing name in any layer, a bad name, layer or version', async () => {
  await withRepo(async (root) => {
    await mkdir(join(root, 'system/wiki'), { recursive: true })
    const chart = 'https://charts.example.com/wikijs@2.4.1'
    await assert.rejects(
      scaffoldService(root, { name: 'wiki', layer: 'apps', chart }),
      /Cannot create apps\/wiki: system\/wiki exists/,
    )
    await assert.rejects(
      scaffoldService(root, { name: 'Wiki_1', layer: 'apps', chart }),
      /Cannot use the name "Wiki_1"/,
    )
    await assert.rejects(
      scaffoldService(root, { name: 'notes', layer: 'bootstrap', chart }),
      /Cannot use --layer "bootstrap"/,
    )
  })
  for (const ref of [
    'https://c.example.com/web@^1.2.3',
    'https://c.example.com/web@1.2',
    'https://c.example.com/web@1.2.x',
  ]) {
    assert.throws(() => parseChartRef(ref), /is not an exact version/, ref)
  }
  for (const ref of [
    'http://c.example.com/web@1.2.3',
    'web@1.2.3',
    'https://c.example.com/web',
    'c.example.com/web@1.2.3',
  ]) {
    assert.throws(() => parseChartRef(ref), /expected REPO\/CHART@VERSION/, ref)
  }
  assert.deepEqual(parseChartRef('https://charts.example.com/sub/web@v1.0.0'), {
    repository: 'https://charts.example.com/sub',
    chart: 'web',
    version: 'v1.0.0',
  })
})

test('homelab new-service exits 2 with the fix for a range version', () => {
  const r = spawnSync(
    join(repo, 'bin/homelab'),
    ['new-service', 'wiki', '--chart', 'https://c.example.com/web@~1.2.3'],
    {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    },
  )
  assert.equal(r.status, 2, r.stderr)
  assert.match(r.stderr, /Cannot use chart version "~1\.2\.3": it is not an exact version/)
})
