/**
 * `homelab bootstrap` and `homelab status` against the stand-in Kubernetes API server
 * (test/harness/kube-standin.ts) and a stand-in ArgoCD install manifest
 * (argocd/fixtures/standin-install.yaml) served on 127.0.0.1: no real cluster runs here.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type LoadedConfig, loadConfig } from '../core/config/load.ts'
import { createKubeClient, type KubeClient, type KubeObject } from '../core/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../core/kube/kubeconfig.ts'
import { type KubeStandin, startKubeStandin } from '../test/harness/kube-standin.ts'
import { ArgocdPinError } from './argocd/manifest.ts'
import { type BootstrapEvent, type BootstrapOptions, bootstrap, FIELD_MANAGER } from './bootstrap.ts'
import { generateApplications } from './root/applications.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FIXTURE = fileURLToPath(new URL('argocd/fixtures/standin-install.yaml', import.meta.url))
const CRDS = ['applications.argoproj.io', 'applicationsets.argoproj.io', 'appprojects.argoproj.io']

let dir = ''
let standin: KubeStandin
let api: KubeClient
let manifestServer: Server
let manifestUrl = ''
let manifestHits = 0
let fixture: Buffer
let loaded: LoadedConfig
type Source = { repoURL: string; helm: { valuesObject: { global: { homelab: { repoURL: string } } } } }

async function upstream(name: string, sha256: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, `version: v3.3.6\nurl: ${manifestUrl}\nsha256: "${sha256}"\n`)
  return file
}

function options(upstreamFile: string, events: BootstrapEvent[] = []): BootstrapOptions {
  return {
    api,
    config: loaded.config,
    derived: loaded.derived,
    cacheDir: join(dir, 'cache'),
    upstreamFile,
    events: (e) => events.push(e),
    timeoutMs: 10_000,
    pollMs: 25,
  }
}

/** Every stored object's resourceVersion, by kind/namespace/name. */
function versions(): Map<string, string> {
  const out = new Map<string, string>()
  for (const res of standin.store.resources()) {
    for (const o of standin.store.list(res)) {
      out.set(`${res.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion)
    }
  }
  return out
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootstrap-test-'))
  fixture = await readFile(FIXTURE)
  manifestServer = createServer((req, res) => {
    manifestHits++
    if (req.url !== '/install.yaml') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/yaml', 'content-length': fixture.length }).end(fixture)
  })
  await new Promise<void>((r) => manifestServer.listen(0, '127.0.0.1', r))
  manifestUrl = `http://127.0.0.1:${(manifestServer.address() as AddressInfo).port}/install.yaml`
  standin = await startKubeStandin({
    dir: join(dir, 'api'),
    crdEstablishAfterMs: 150,
    workloadReadyAfterMs: 150,
  })
  await writeFile(join(dir, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
  api = createKubeClient(await loadKubeconfig(join(dir, 'kubeconfig')))
  loaded = await loadConfig(join(ROOT, 'homelab.yaml'))
})

after(async () => {
  await standin?.close()
  await new Promise<void>((r) => (manifestServer ? manifestServer.close(() => r()) : r()))
  manifestServer?.closeAllConnections()
  await rm(dir, { recursive: true, force: true })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) refuses an unpinned manifest before downloading or touching the cluster', async () => {
  const file = await upstream('unpinned.yaml', '')
  await assert.rejects(bootstrap(options(file)), (error: Error) => {
    assert.ok(error instanceof ArgocdPinError)
    assert.match(error.message, /^Cannot install ArgoCD v3\.3\.6: .*unpinned\.yaml pins no sha256/)
    assert.match(error.message, /run `homelab bootstrap --pin-argocd`/)
    return true
  })
  assert.equal(manifestHits, 0)
  assert.deepEqual(standin.requests(), [])
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) refuses a manifest whose sha256 differs from the pin, touching nothing', async () => {
  const file = await upstream('wrong.yaml', 'ab'.repeat(32))
  await assert.rejects(bootstrap(options(file)), /its sha256 is [0-9a-f]{64}, but .*wrong\.yaml says abab/)
  assert.equal(manifestHits, 1)
  assert.deepEqual(standin.requests(), [])
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) applies namespace, CRDs, waits Established, the rest, waits Available, then the root app (seed)', async () => {
  const file = await upstream('upstream.yaml', createHash('sha256').update(fixture).digest('hex'))
  const events: BootstrapEvent[] = []
  const hitsBefore = manifestHits
  const result = await bootstrap(options(file, events))
  assert.equal(manifestHits, hitsBefore + 1)
  const log = standin.requests()
  const applies = log.filter((r) => r.method === 'PATCH')
  assert.deepEqual(
    applies.map((r) => r.path),
    [
      '/api/v1/namespaces/argocd',
      ...CRDS.map((c) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c}`),
      '/api/v1/namespaces/argocd/serviceaccounts/argocd-application-controller',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/argocd-application-controller',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/argocd-application-controller',
      '/api/v1/namespaces/argocd/configmaps/argocd-cm',
      '/api/v1/namespaces/argocd/configmaps/argocd-cmd-params-cm',
      '/api/v1/namespaces/argocd/services/argocd-server',
      '/apis/apps/v1/namespaces/argocd/deployments/argocd-repo-server',
      '/apis/apps/v1/namespaces/argocd/deployments/argocd-server',
      '/apis/apps/v1/namespaces/argocd/statefulsets/argocd-application-controller',
      '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root',
    ],
  )
  for (const r of applies) {
    assert.equal(r.fieldManager, FIELD_MANAGER, r.path)
    assert.equal(r.query.force, 'true', r.path)
    assert.equal(r.contentType, 'application/apply-patch+yaml', r.path)
  }
  // the CRDs were Established (150 ms after creation) before anything else was applied
  const firstCrd = log.findIndex((r) => r.method === 'PATCH' && r.path.includes('customresourcedefinitions'))
  const firstOther = log.findIndex((r) => r.method === 'PATCH' && r.path.includes('serviceaccounts'))
  const crdPolls = log
    .slice(firstCrd, firstOther)
    .filter((r) => r.method === 'GET' && r.path.includes('customresourcedefinitions/'))
  assert.ok(crdPolls.length > CRDS.length * 2, `CRDs polled ${crdPolls.length} times`)
  assert.ok(Date.parse(log[firstOther]?.time ?? '') - Date.parse(log[firstCrd]?.time ?? '') >= 150)
  const waited = events.filter((e) => e.type === 'bootstrap.waiting').map((e) => e.step)
  assert.ok(waited.includes('established') && waited.includes('available'), waited.join(','))
  // the workloads were ready before the Gitea check and the root app
  const lastWorkloadPoll = log.findLastIndex(
    (r) => r.method === 'GET' && /deployments\/|statefulsets\//.test(r.path),
  )
  const giteaCheck = log.findIndex((r) => r.path.includes('/services/gitea-http:3000/proxy/'))
  const rootApply = log.findIndex((r) => r.method === 'PATCH' && r.path.endsWith('/applications/root'))
  assert.ok(firstOther < lastWorkloadPoll && lastWorkloadPoll < giteaCheck && giteaCheck < rootApply)
  assert.equal(
    log[giteaCheck]?.path,
    '/api/v1/namespaces/gitea/services/gitea-http:3000/proxy/api/v1/repos/ops/homelab',
  )
  assert.equal(log[giteaCheck]?.status, 404)

  assert.equal(result.source, 'seed')
  assert.equal(result.root, 'created')
  assert.ok(result.objects.every((o) => o.result === 'created'))
  const cm = await api.get<KubeObject>('/api/v1/namespaces/argocd/configmaps/argocd-cmd-params-cm')
  assert.deepEqual(cm?.data, { 'server.insecure': 'true', 'controller.diff.server.side': 'true' })
  assert.equal(
    (cm?.metadata.labels as Record<string, string> | undefined)?.['app.kubernetes.io/part-of'],
    'argocd',
  )
  const root = await api.get<KubeObject>('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root')
  const spec = (root?.spec ?? {}) as Record<string, unknown>
  assert.deepEqual(spec.source, {
    repoURL: 'https://github.com/homelab-as-code/homelab',
    targetRevision: 'main',
    path: 'bootstrap/root',
    helm: {
      valuesObject: {
        global: {
          homelab: {
            domain: 'lab.home.arpa',
            timezone: 'UTC',
            loadBalancerPool: '10.77.0.224-10.77.0.254',
            clusterIssuer: 'homelab-selfsigned',
            letsencryptEmail: '',
            repoURL: 'https://github.com/homelab-as-code/homelab',
            revision: 'main',
            seedRepoURL: 'https://github.com/homelab-as-code/homelab',
            giteaRepoURL: 'http://gitea-http.gitea.svc:3000/ops/homelab.git',
          },
        },
      },
    },
  })
  assert.deepEqual(spec.syncPolicy, {
    automated: { prune: true, selfHeal: true },
    retry: { limit: 10, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
    syncOptions: ['CreateNamespace=true', 'ServerSideApply=true', 'SkipDryRunOnMissingResource=true'],
  })
  // The root app is exactly the one the root chart generates for itself: self-management is a no-op.
  const generated = (await generateApplications(ROOT, result.settings)).find(
    (a) => a.path === 'bootstrap/root',
  )
  const { metadata: _m, status: _s, ...applied } = root as KubeObject & { status?: unknown }
  assert.ok(generated !== undefined && root !== undefined)
  const { metadata: gm, ...want } = generated.application as unknown as KubeObject
  assert.deepEqual(applied, want)
  assert.deepEqual((root.metadata.labels as Record<string, string>)['homelab.dev/layer'], 'bootstrap')
  assert.equal(gm.name, 'root')
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) run again changes nothing: no resourceVersion moves, the cached manifest is reused', async () => {
  const before = versions()
  const hits = manifestHits
  const result = await bootstrap(options(join(dir, 'upstream.yaml')))
  assert.deepEqual(versions(), before)
  assert.equal(manifestHits, hits)
  assert.deepEqual(
    result.objects.filter((o) => o.result !== 'unchanged'),
    [],
  )
  assert.equal(result.root, 'unchanged')
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) recreates a deleted root app', async () => {
  assert.equal(await api.delete('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root'), true)
  const result = await bootstrap(options(join(dir, 'upstream.yaml')))
  assert.equal(result.root, 'created')
  assert.ok(await api.get('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root'))
  assert.deepEqual(
    result.objects.filter((o) => o.kind !== 'Application' && o.result !== 'unchanged'),
    [],
  )
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) follows the in-cluster Gitea once it serves the repo (stand-in service proxy)', async () => {
  const asked: string[] = []
  standin.setServiceProxy('gitea', 'gitea-http:3000', (path) => {
    asked.push(path)
    return path === '/api/v1/repos/ops/homelab'
      ? { status: 200, body: { full_name: 'ops/homelab', empty: false } }
      : { status: 404, body: { message: 'not found' } }
  })
  try {
    const result = await bootstrap(options(join(dir, 'upstream.yaml')))
    assert.deepEqual(asked, ['/api/v1/repos/ops/homelab'])
    assert.equal(result.source, 'gitea')
    assert.equal(result.root, 'changed')
    const root = await api.get<KubeObject>('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root')
    const source = ((root?.spec ?? {}) as { source: Source }).source
    assert.equal(source.repoURL, 'http://gitea-http.gitea.svc:3000/ops/homelab.git')
    assert.equal(
      source.helm.valuesObject.global.homelab.repoURL,
      'http://gitea-http.gitea.svc:3000/ops/homelab.git',
    )
  } finally {
    standin.setServiceProxy('gitea', 'gitea-http:3000', undefined)
  }
})

test('homelab status on the stand-in Kubernetes API prints nodes, Applications with sync and health, and ingress URLs (real CLI)', async () => {
  standin.addNode({ name: 'metal0', role: 'server', ip: '10.77.0.10', readyAfterMs: 0 })
  standin.addNode({ name: 'metal1', role: 'agent', ip: '10.77.0.11', readyAfterMs: 60_000 })
  await new Promise((r) => setTimeout(r, 50))
  const root = standin.store.get(
    standin.store.resourceOfKind('argoproj.io/v1alpha1', 'Application'),
    'argocd',
    'root',
  )
  root.status = { sync: { status: 'Synced' }, health: { status: 'Progressing' } }
  standin.store.put(root)
  standin.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'grafana' } })
  standin.store.put({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'grafana', namespace: 'grafana' },
    spec: { rules: [{ host: 'grafana.lab.home.arpa' }] },
  })
  const state = join(dir, 'state')
  await rm(state, { recursive: true, force: true })
  await mkdir(state)
  await writeFile(join(state, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
  const run = (json: boolean) =>
    promisify(execFile)(
      join(ROOT, 'bin', 'homelab'),
      ['status', '--state', state, '-c', join(ROOT, 'homelab.yaml'), ...(json ? ['--json'] : [])],
      { cwd: ROOT },
    )
  const text = (await run(false)).stdout
  assert.equal(
    text,
    [
      'nodes',
      '  NAME    ROLES                 STATUS',
      '  metal0  control-plane,master  Ready',
      '  metal1  -                     NotReady: KubeletNotReady',
      '',
      'applications',
      '  NAME  SYNC    HEALTH',
      '  root  Synced  Progressing',
      '',
      'urls',
      '  https://grafana.lab.home.arpa',
      '',
    ].join('\n'),
  )
  const lines = (await run(true)).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  const event = lines.find((e) => e.type === 'status')
  assert.ok(event, JSON.stringify(lines))
  assert.deepEqual(event.applications, [
    { name: 'root', namespace: 'argocd', sync: 'Synced', health: 'Progressing' },
  ])
  assert.deepEqual(event.urls, ['https://grafana.lab.home.arpa'])
  assert.deepEqual(
    event.nodes.map((n: { name: string; ready: boolean }) => [n.name, n.ready]),
    [
      ['metal0', true],
      ['metal1', false],
    ],
  )
})
