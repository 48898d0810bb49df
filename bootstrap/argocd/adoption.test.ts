/**
 * ArgoCD adopts its own install: what `homelab bootstrap` applies and what the self-managed
 * `argocd-install` Application renders are the same objects, labels and selectors. Both paths run
 * with the real, pinned tools (helm and kubectl from lib/toolbox), offline: a STAND-IN install
 * manifest (fixtures/standin-install.yaml, upstream's kinds and label shapes) stands in for
 * ArgoCD's, and a STAND-IN upstream host (fixtures/standin-upstream.ts) serves it at the pinned
 * https URL, so kustomize fetches it exactly as ArgoCD's repo-server would.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse as parseYaml, stringify } from 'yaml'
import { loadConfig } from '../../core/config/load.ts'
import type { KubeObject } from '../../lib/kube/index.ts'
import { ensureHelm, ensureKubectl } from '../../lib/toolbox/index.ts'
import { renderChart } from '../render/helm.ts'
import { clusterSettings } from '../settings.ts'
import { type StandinUpstream, startStandinUpstream } from './fixtures/standin-upstream.ts'
import { INSTALL_DIR, renderInstall } from './kustomize.ts'
import { readUpstream, splitManifest } from './manifest.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const STANDIN = fileURLToPath(new URL('fixtures/standin-install.yaml', import.meta.url))
const PINNED = 'https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml'

let dir = ''
let upstreamHost: StandinUpstream | undefined
let kubectl = ''
let helm = ''

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argocd-adoption-test-'))
  kubectl = await ensureKubectl()
  helm = await ensureHelm()
  const { pinnedUrl } = await readUpstream(undefined, {})
  await mkdir(join(dir, 'certs'))
  upstreamHost = await startStandinUpstream(
    pinnedUrl,
    new Map([[new URL(pinnedUrl).pathname, await readFile(STANDIN)]]),
    join(dir, 'certs'),
  )
})

after(async () => {
  await upstreamHost?.close()
  await rm(dir, { recursive: true, force: true })
})

/** What pods each workload and Service selects, and what they are labelled: the fields adoption depends on. */
function shapes(objects: readonly KubeObject[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const o of objects) {
    const spec = (o.spec ?? {}) as { selector?: unknown; template?: { metadata?: { labels?: unknown } } }
    if (o.kind === 'Service' || ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) {
      out[`${o.kind}/${o.metadata.name}`] = {
        labels: o.metadata.labels,
        selector: spec.selector,
        ...(o.kind === 'Service' ? {} : { podLabels: spec.template?.metadata?.labels }),
      }
    }
  }
  return out
}

test('the argocd Application (real Helm) generates argocd-install: bootstrap/argocd/install of the repo, plain kustomize, server-side apply', async () => {
  const loaded = await loadConfig(join(ROOT, 'homelab.yaml'))
  const settings = clusterSettings(loaded.config, loaded.derived, loaded.config.gitops.seed.url)
  // as ArgoCD renders the `argocd` Application: release and namespace argocd, global.homelab as values
  const rendered = (
    await renderChart(join(ROOT, 'bootstrap/argocd'), { global: { homelab: settings } }, { helm })
  ).map((m) => m.manifest as unknown as KubeObject)
  assert.deepEqual(
    rendered.map((o) => `${o.kind}/${o.metadata.name}`),
    ['Application/argocd-install', 'HTTPRoute/argocd'],
  )
  const app = rendered.find((o) => o.kind === 'Application') as KubeObject
  const spec = app.spec as Record<string, Record<string, unknown>>
  // No helm/kustomize/directory/plugin block: ArgoCD finds kustomization.yaml and runs `kustomize build`.
  assert.deepEqual(spec.source, {
    repoURL: settings.repoURL,
    targetRevision: settings.revision,
    path: 'bootstrap/argocd/install',
  })
  assert.deepEqual(spec.destination, { server: 'https://kubernetes.default.svc', namespace: 'argocd' })
  assert.deepEqual(spec.syncPolicy?.syncOptions, ['ServerSideApply=true'])
  assert.equal(app.metadata.namespace, 'argocd')
})

test('bootstrap/argocd/install renders the same objects, labels and selectors from the verified copy (homelab bootstrap) as from the pinned URL (argocd-install; stand-in manifest, stand-in upstream host)', async () => {
  const host = upstreamHost as StandinUpstream
  const seen = host.requests.length
  // ArgoCD's path: the repo's kustomization as it is, the pinned https URL fetched by kustomize.
  const { stdout } = await run(kubectl, ['kustomize', INSTALL_DIR], {
    env: host.env(),
    maxBuffer: 64 * 2 ** 20,
  })
  assert.deepEqual(host.requests.slice(seen), [
    'CONNECT raw.githubusercontent.com:443',
    `GET ${new URL(PINNED).pathname}`,
  ])
  const byArgocd = splitManifest(stdout)
  // homelab bootstrap's path: the same kustomization against the (verified) local copy.
  const byBootstrap = await renderInstall({ kubectl, manifestPath: STANDIN, pinnedUrl: PINNED })
  assert.deepEqual(byBootstrap, byArgocd)

  // Every workload and Service selects exactly what upstream's does, and is labelled as upstream's
  // is: nothing (no instance label) reaches an immutable selector.
  const upstream = splitManifest(await readFile(STANDIN, 'utf8'))
  assert.deepEqual(shapes(byBootstrap), shapes(upstream))
  assert.equal(Object.keys(shapes(upstream)).length, 9)
  assert.ok(!stdout.includes('app.kubernetes.io/instance'))
  // and our settings are in: namespaced into argocd, the ConfigMaps patched.
  const cm = (name: string) => byBootstrap.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name)
  assert.deepEqual(cm('argocd-cmd-params-cm')?.data, {
    'controller.diff.server.side': 'true',
    'server.insecure': 'true',
  })
  assert.equal(
    (cm('argocd-cm')?.data as Record<string, string> | undefined)?.['application.resourceTrackingMethod'],
    'annotation',
  )
  for (const o of byBootstrap) {
    const namespaced = !['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)
    assert.equal(o.metadata.namespace, namespaced ? 'argocd' : undefined, `${o.kind}/${o.metadata.name}`)
  }
})

test('shapes() catches a kustomization that puts a label into the selectors (the failure adoption guards against)', async () => {
  const copy = await mkdtemp(join(dir, 'labelled-'))
  await cp(INSTALL_DIR, copy, { recursive: true })
  const file = join(copy, 'kustomization.yaml')
  const k = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>
  k.labels = [{ pairs: { 'app.kubernetes.io/instance': 'argocd' }, includeSelectors: true }]
  await writeFile(file, stringify(k))
  const labelled = await renderInstall({ kubectl, manifestPath: STANDIN, pinnedUrl: PINNED, dir: copy })
  const upstream = splitManifest(await readFile(STANDIN, 'utf8'))
  assert.throws(() => assert.deepEqual(shapes(labelled), shapes(upstream)), /argocd-server/)
})

test('upstream.yaml and install/kustomization.yaml pin the same URL, of the pinned version, with a digest', async () => {
  const upstream = await readUpstream(undefined, {})
  const kustomization = parseYaml(await readFile(join(INSTALL_DIR, 'kustomization.yaml'), 'utf8'))
  assert.deepEqual(kustomization.resources, [upstream.pinnedUrl])
  assert.equal(
    upstream.pinnedUrl,
    `https://raw.githubusercontent.com/argoproj/argo-cd/${upstream.version}/manifests/install.yaml`,
  )
  assert.match(upstream.sha256, /^[0-9a-f]{64}$/)
})
