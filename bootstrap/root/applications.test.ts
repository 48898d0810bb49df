import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../core/config/load.ts'
import { clusterSettings } from '../settings.ts'
import { generateApplications, renderRoot } from './applications.ts'
import { discoverApps } from './discover.ts'

const repo = join(import.meta.dirname, '../..')

// biome-ignore lint/suspicious/noExplicitAny: the tests read nested manifest fields
type Manifest = Record<string, any>

async function settings() {
  const { config, derived } = await loadConfig(join(repo, 'homelab.yaml'))
  return clusterSettings(config, derived, config.gitops.seed.url)
}

test('renderRoot() renders one ApplicationSet per layer with its wave, generator and sync policy', async () => {
  const s = await settings()
  const sets = (await renderRoot(repo, s)).map((m) => m.manifest as Manifest)
  assert.deepEqual(
    sets.map((a) => `${a.metadata.name} ${a.metadata.annotations['argocd.argoproj.io/sync-wave']}`),
    ['bootstrap 1', 'system 2', 'platform 3', 'apps 4'],
  )
  assert.deepEqual(sets[0]?.spec.generators[0].git.directories, [
    { path: 'bootstrap/*' },
    { path: 'bootstrap/lib', exclude: true },
    { path: 'bootstrap/render', exclude: true },
    { path: 'bootstrap/secrets', exclude: true },
    { path: 'bootstrap/validate', exclude: true },
    { path: 'bootstrap/vault', exclude: true },
  ])
  for (const set of sets) {
    assert.equal(set.spec.goTemplate, true)
    assert.equal(set.spec.generators[0].git.repoURL, s.repoURL)
    assert.equal(set.spec.template.metadata.name, '{{ .path.basename }}')
    assert.deepEqual(set.spec.template.spec.source.helm.valuesObject, { global: { homelab: s } })
    assert.deepEqual(set.spec.template.spec.syncPolicy, {
      automated: { prune: true, selfHeal: true },
      retry: { limit: 10, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
      syncOptions: ['CreateNamespace=true', 'ServerSideApply=true', 'SkipDryRunOnMissingResource=true'],
    })
  }
})

test('generateApplications() yields exactly the shipped Applications, matching discoverApps(), root among them', async () => {
  const s = await settings()
  const apps = await generateApplications(repo, s)
  const lines = apps.map((a) => {
    const app = a.application as Manifest
    return `${app.metadata.labels['homelab.dev/layer']} ${app.metadata.name} ${app.spec.destination.namespace} ${app.spec.source.path}`
  })
  assert.deepEqual(
    lines.map((l) => l.split(' ').slice(0, 3).join(' ')),
    [
      'bootstrap argocd argocd',
      'bootstrap root root',
      'system cert-manager cert-manager',
      'system cloudflared cloudflared',
      'system envoy-gateway envoy-gateway',
      'system external-dns external-dns',
      'system longhorn-system longhorn-system',
      'system metallb metallb',
      'system monitoring monitoring',
      'platform dex dex',
      'platform gitea gitea',
      'platform tekton-pipelines tekton-pipelines',
      'platform vault vault',
      'apps homepage homepage',
      'apps jellyfin jellyfin',
      'apps matrix matrix',
      'apps paperless paperless',
    ],
  )
  assert.deepEqual(
    (await discoverApps(repo)).map((a) => `${a.layer} ${a.name} ${a.namespace} ${a.path}`),
    lines,
    'discoverApps() evaluates the same generators',
  )
  const root = apps.find((a) => a.path === 'bootstrap/root')?.application as Manifest
  assert.deepEqual(root.spec.source, {
    repoURL: s.repoURL,
    targetRevision: s.revision,
    path: 'bootstrap/root',
    helm: { valuesObject: { global: { homelab: s } } },
  })
  assert.equal(root.metadata.namespace, 'argocd')
})
