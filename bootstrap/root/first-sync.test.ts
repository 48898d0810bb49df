import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { loadConfig } from '../../core/config/load.ts'
import { ensureHelm } from '../../lib/toolbox/index.ts'
import { clusterSettings } from '../settings.ts'
import { customKind, firstSyncProblems, parseWave, type SyncUnit } from './first-sync.ts'
import { FIRST_SYNC_FILE, firstSyncUnits, parseInventory } from './first-sync-units.ts'

const repo = join(import.meta.dirname, '../..')
const exec = promisify(execFile)
const SM = 'monitoring.coreos.com/ServiceMonitor'
const ROUTE = 'gateway.networking.k8s.io/HTTPRoute'

async function settings() {
  const { config, derived } = await loadConfig(join(repo, 'homelab.yaml'))
  return clusterSettings(config, derived, config.gitops.seed.url)
}

function unit(name: string, wave: number, provides: string[], renders: SyncUnit['renders']): SyncUnit {
  return { name, wave, provides, renders }
}

test('customKind() names custom resources by group/Kind and skips the kinds Kubernetes serves itself', () => {
  assert.equal(customKind({ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' }), SM)
  assert.equal(
    customKind({ apiVersion: 'externaldns.k8s.io/v1alpha1', kind: 'DNSEndpoint' }),
    'externaldns.k8s.io/DNSEndpoint',
  )
  assert.equal(
    customKind({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway' }),
    'gateway.networking.k8s.io/Gateway',
  )
  assert.equal(customKind({ apiVersion: 'v1', kind: 'ConfigMap' }), undefined)
  assert.equal(customKind({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' }), undefined)
  assert.equal(customKind({ apiVersion: 'apps/v1', kind: 'Deployment' }), undefined)
})

test('parseWave() reads sync waves as ArgoCD does: absent is 0, integers only', () => {
  assert.equal(parseWave(undefined), 0)
  assert.equal(parseWave('-1'), -1)
  assert.equal(parseWave('3'), 3)
  assert.equal(parseWave('one'), undefined)
  assert.equal(parseWave(1), undefined)
})

test('firstSyncProblems() accepts a CRD from a strictly earlier wave, from the same Application, or preinstalled', () => {
  const units = [
    unit('bootstrap/root (crds)', -1, [SM], []),
    unit(
      'system/metallb',
      1,
      ['metallb.io/IPAddressPool'],
      [{ kind: SM }, { kind: 'metallb.io/IPAddressPool', template: 'templates/pool.yaml', wave: 1 }],
    ),
    unit(
      'bootstrap/root',
      0,
      [],
      [{ kind: 'argoproj.io/ApplicationSet', template: 'templates/a.yaml', wave: 0 }],
    ),
  ]
  assert.deepEqual(firstSyncProblems(units, ['argoproj.io/ApplicationSet']), [])
})

test('firstSyncProblems() refuses a CRD from the same wave, from a later one, or from nowhere', () => {
  const problems = firstSyncProblems(
    [
      unit('system/monitoring', 1, [SM], []),
      unit('system/external-dns', 1, [], [{ kind: SM }]),
      unit('bootstrap/argocd', 0, [], [{ kind: SM }]),
      unit('apps/web', 3, [], [{ kind: 'example.com/Widget', template: 'templates/w.yaml', wave: 0 }]),
    ],
    [],
  )
  assert.equal(problems.length, 3)
  assert.match(
    problems[0] ?? '',
    /^system\/external-dns: monitoring\.coreos\.com\/ServiceMonitor is applied in wave 1 but its CRD comes from system\/monitoring \(wave 1\), not from an earlier wave: /,
  )
  assert.match(
    problems[1] ?? '',
    /^bootstrap\/argocd: .* in wave 0 but its CRD comes from system\/monitoring \(wave 1\)/,
  )
  assert.match(
    problems[2] ?? '',
    /^apps\/web \(templates\/w\.yaml\): example\.com\/Widget .* nothing installs its CRD/,
  )
})

test('firstSyncProblems() refuses our own custom resource in wave 0 beside its CRD (its webhook may not serve yet)', () => {
  const problems = firstSyncProblems(
    [
      unit(
        'system/cert-manager',
        1,
        ['cert-manager.io/ClusterIssuer'],
        [{ kind: 'cert-manager.io/ClusterIssuer', template: 'templates/cluster-issuers.yaml', wave: 0 }],
      ),
    ],
    [],
  )
  assert.deepEqual(problems, [
    'system/cert-manager (templates/cluster-issuers.yaml): cert-manager.io/ClusterIssuer is in wave 0 of its Application, with the CRD and the chart\'s webhooks: annotate it argocd.argoproj.io/sync-wave: "1"',
  ])
})

test('parseInventory() names the file and the field of a malformed entry', () => {
  assert.throws(
    () => parseInventory('root: [{ chart: x }]\ncomponents:\n  system/a:\n    renders: [ServiceMonitor]\n'),
    new Error(
      `Cannot read ${FIRST_SYNC_FILE}: components["system/a"].renders is not a list of group/Kind (e.g. monitoring.coreos.com/ServiceMonitor)`,
    ),
  )
  assert.throws(() => parseInventory('components: {}\n'), /root is not a list of \{ chart, provides \}/)
  assert.throws(() => parseInventory('root: [{ provides: [] }]\n'), /root\[0\]\.chart is not a chart name/)
})

test('the repo as shipped: every custom resource of every Application finds its CRD applied before it', async () => {
  const plan = await firstSyncUnits(repo, await settings())
  assert.deepEqual(plan.problems, [])
  assert.deepEqual(firstSyncProblems(plan.units, plan.preinstalled), [])
  // The ordering is real, not vacuous: the root app's CRDs come first, the ServiceMonitors of the
  // system layer depend on them, and our own ClusterIssuers and pool wait for their chart.
  const root = plan.units[0]
  assert.equal(root?.wave, -1)
  assert.ok(root?.provides.includes(SM))
  const rendersSM = plan.units.filter((u) => u.renders.some((r) => r.kind === SM)).map((u) => u.name)
  assert.ok(
    rendersSM.includes('system/monitoring') && rendersSM.includes('system/metallb'),
    rendersSM.join(', '),
  )
  const own = plan.units.flatMap((u) =>
    u.renders.filter((r) => r.template !== undefined).map((r) => `${u.name} ${r.kind} ${r.wave}`),
  )
  assert.ok(own.includes('system/cert-manager cert-manager.io/ClusterIssuer 1'), own.join('\n'))
  assert.ok(own.includes('system/metallb metallb.io/IPAddressPool 1'), own.join('\n'))
  // The Gateway API CRDs come from the root app's wave 0, before every layer; every routed
  // component's HTTPRoute and the shared Gateway rely on them.
  const gateway = plan.units[1]
  assert.equal(gateway?.name, 'bootstrap/root (gateway-crds-helm)')
  assert.equal(gateway?.wave, 0)
  assert.ok(
    gateway?.provides.includes(ROUTE) && gateway.provides.includes('gateway.networking.k8s.io/Gateway'),
  )
  const routed = plan.units
    .filter((u) => u.renders.some((r) => r.kind === ROUTE))
    .map((u) => `${u.name} ${u.wave}`)
  for (const expected of [
    'bootstrap/argocd 1',
    'system/envoy-gateway 2',
    'platform/gitea 3',
    'apps/matrix 4',
  ])
    assert.ok(routed.includes(expected), routed.join(', '))
  assert.ok(own.includes('system/envoy-gateway gateway.envoyproxy.io/EnvoyProxy 0'), own.join('\n'))
})

test('the check fails when the root app does not put its CRDs before the layers, or an Application has no entry', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'first-sync-'))
  try {
    for (const path of ['bootstrap', 'system', 'platform', 'apps', 'homelab.yaml']) {
      await cp(join(repo, path), join(dir, path), {
        recursive: true,
        filter: (src) => !src.includes('node_modules') && !src.endsWith('.ts'),
      })
    }
    const values = join(dir, 'bootstrap/root/values.yaml')
    await writeFile(
      values,
      (await readFile(values, 'utf8'))
        .replace('sync-wave: "-1"', 'sync-wave: "2"')
        .replace('name: bootstrap\n    wave: "1"', 'name: bootstrap\n    wave: "0"'),
    )
    const inventory = join(dir, FIRST_SYNC_FILE)
    await writeFile(inventory, (await readFile(inventory, 'utf8')).replace('  system/cloudflared: {}\n', ''))
    const plan = await firstSyncUnits(dir, await settings())
    assert.deepEqual(plan.problems, [
      `${FIRST_SYNC_FILE}: no entry for "system/cloudflared": add the CRDs its upstream chart installs (provides) and the custom resources it renders (renders)`,
    ])
    const problems = firstSyncProblems(plan.units, plan.preinstalled)
    assert.ok(
      problems.some((p) =>
        p.startsWith(
          `system/monitoring: ${SM} is applied in wave 2 but its CRD comes from bootstrap/root (prometheus-operator-crds) (wave 2)`,
        ),
      ),
      problems.join('\n'),
    )
    // The bootstrap layer in wave 0, beside the Gateway API CRDs: the ArgoCD route may come first.
    assert.ok(
      problems.includes(
        `bootstrap/argocd (templates/routes.yaml): ${ROUTE} is applied in wave 0 but its CRD comes from bootstrap/root (gateway-crds-helm) (wave 0), not from an earlier wave: install the CRD in an earlier wave (the root app's wave -1, bootstrap/root) or in this Application`,
      ),
      problems.join('\n'),
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

/** A repo with the real root chart and one component, system/web, on a stand-in upstream chart. */
async function standInRepo(dir: string, webEntry: string): Promise<string> {
  await cp(join(repo, 'bootstrap/root'), join(dir, 'bootstrap/root'), {
    recursive: true,
    filter: (src) => !src.endsWith('.ts'),
  })
  await writeFile(
    join(dir, FIRST_SYNC_FILE),
    `preinstalled: [argoproj.io/ApplicationSet]\nroot:\n  - chart: prometheus-operator-crds\n    provides: [${SM}]\ncomponents:\n  bootstrap/root: {}\n  system/web: ${webEntry}\n`,
  )
  const upstream = join(dir, 'src/standin-upstream')
  await mkdir(join(upstream, 'crds'), { recursive: true })
  await mkdir(join(upstream, 'templates'), { recursive: true })
  await writeFile(join(upstream, 'Chart.yaml'), 'apiVersion: v2\nname: standin-upstream\nversion: 1.0.0\n')
  await writeFile(
    join(upstream, 'crds/widgets.yaml'),
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: { kind: Widget, plural: widgets }\n  scope: Namespaced\n  versions: []\n',
  )
  await writeFile(
    join(upstream, 'templates/monitor.yaml'),
    'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\nspec: {}\n',
  )
  await mkdir(join(dir, 'system/web/templates'), { recursive: true })
  await writeFile(
    join(dir, 'system/web/Chart.yaml'),
    'apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: standin-upstream\n    version: 1.0.0\n    repository: https://charts.example.invalid\n',
  )
  await writeFile(
    join(dir, 'system/web/templates/widget.yaml'),
    'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  annotations:\n    argocd.argoproj.io/sync-wave: "1"\n',
  )
  const archives = join(dir, 'archives')
  await mkdir(archives)
  await exec(await ensureHelm(), ['package', upstream, '--destination', archives], {
    env: {
      ...process.env,
      HOME: dir,
      HELM_CACHE_HOME: join(dir, 'helm'),
      HELM_CONFIG_HOME: join(dir, 'helm'),
      HELM_DATA_HOME: join(dir, 'helm'),
    },
  })
  return join(archives, 'standin-upstream-1.0.0.tgz')
}

test('with the stand-in upstream archive, a component is rendered whole and its entry checked against the render', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'first-sync-archive-'))
  try {
    const archive = await standInRepo(dir, `{ provides: [example.com/Widget], renders: [${SM}] }`)
    const options = {
      archive: async (dep: { name: string }) => (dep.name === 'standin-upstream' ? archive : undefined),
    }
    const good = await firstSyncUnits(dir, await settings(), options)
    assert.deepEqual(good.problems, [])
    const web = good.units.find((u) => u.name === 'system/web')
    assert.deepEqual(web?.provides, ['example.com/Widget'])
    assert.deepEqual(
      web?.renders.map((r) => `${r.kind} ${r.template ?? 'upstream'}`),
      [`${SM} upstream`, 'example.com/Widget templates/widget.yaml'],
    )
    assert.deepEqual(firstSyncProblems(good.units, good.preinstalled), [])

    await writeFile(
      join(dir, FIRST_SYNC_FILE),
      (await readFile(join(dir, FIRST_SYNC_FILE), 'utf8')).replace(`renders: [${SM}]`, 'renders: []'),
    )
    const stale = await firstSyncUnits(dir, await settings(), options)
    assert.deepEqual(stale.problems, [
      `${FIRST_SYNC_FILE}: components["system/web"].renders is [] but the pinned upstream chart renders [${SM}]: update the entry`,
    ])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
