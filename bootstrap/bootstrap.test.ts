/**
 * `homelab bootstrap` and `homelab status` against the stand-in Kubernetes API server
 * (test/harness/kube-standin.ts) and a stand-in ArgoCD install manifest
 * (argocd/fixtures/standin-install.yaml) served on 127.0.0.1: no real cluster runs here. The
 * manifest is pinned by its sha256 like the real one, downloaded through the URL override, and
 * rendered with bootstrap/argocd/install by the pinned kubectl (lib/toolbox).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type LoadedConfig, loadConfig } from '../core/config/load.ts'
import { createKubeClient, type KubeClient, type KubeObject } from '../lib/kube/client.ts'
import { loadKubeconfig, rewriteKubeconfigServer } from '../lib/kube/kubeconfig.ts'
import { type KubeStandin, startKubeStandin } from '../test/harness/kube-standin.ts'
import { startVaultStandin } from '../test/harness/vault-standin.ts'
import { ArgocdPinError } from './argocd/manifest.ts'
import { argocdSsoObjects, SSO_FIELD_MANAGER } from './argocd/sso.ts'
import { type BootstrapEvent, type BootstrapOptions, bootstrap, FIELD_MANAGER } from './bootstrap.ts'
import { generateApplications } from './root/applications.ts'
import { GENERATED_SECRETS } from './secrets/registry.ts'
import { readSecret } from './secrets/secrets.ts'
import { httpTransport, type VaultTransport } from './vault/api.ts'
import { keysFile } from './vault/unseal.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FIXTURE = fileURLToPath(new URL('argocd/fixtures/standin-install.yaml', import.meta.url))
const CRDS = ['applications.argoproj.io', 'applicationsets.argoproj.io', 'appprojects.argoproj.io']
const WORKLOADS = [
  'deployments/argocd-redis',
  'deployments/argocd-repo-server',
  'deployments/argocd-server',
  'statefulsets/argocd-application-controller',
]
/** The URL upstream.yaml and install/kustomization.yaml pin; tests download from manifestUrl instead. */
const PINNED_URL = 'https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml'
const ROOT_APP_PATH = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root'

let dir = ''
let manifestServer: Server
let manifestUrl = ''
let manifestHits = 0
let fixture: Buffer
let tampered: Buffer
let loaded: LoadedConfig
type Source = { repoURL: string; helm: { valuesObject: { global: { homelab: { repoURL: string } } } } }

/** One test's own stand-in cluster, manifest cache and files. */
interface Lab {
  dir: string
  standin: KubeStandin
  api: KubeClient
}

/**
 * Runs `body` against a fresh stand-in API server (CRDs Established and workloads rolled out after
 * two reads each), stopped and deleted afterwards, pass or fail.
 */
async function withLab(body: (lab: Lab) => Promise<void>): Promise<void> {
  const labDir = await mkdtemp(join(dir, 'lab-'))
  let standin: KubeStandin | undefined
  try {
    standin = await startKubeStandin({
      dir: join(labDir, 'api'),
      crdEstablishedAfterReads: 2,
      workloadReadyAfterReads: 2,
    })
    await writeFile(join(labDir, 'kubeconfig'), rewriteKubeconfigServer(standin.kubeconfig, standin.url))
    const api = createKubeClient(await loadKubeconfig(join(labDir, 'kubeconfig')))
    await body({ dir: labDir, standin, api })
  } finally {
    await standin?.close()
    await rm(labDir, { recursive: true, force: true })
  }
}

async function upstream(lab: Lab, name: string, sha256: string): Promise<string> {
  const file = join(lab.dir, name)
  await writeFile(file, `version: v3.5.1\nurl: ${PINNED_URL}\nsha256: "${sha256}"\n`)
  return file
}

/** The pin of the stand-in manifest, as `homelab bootstrap --pin-argocd` writes it. */
const pinned = (lab: Lab) =>
  upstream(lab, 'upstream.yaml', createHash('sha256').update(fixture).digest('hex'))

function options(
  lab: Lab,
  upstreamFile: string,
  events: BootstrapEvent[] = [],
  url = manifestUrl,
): BootstrapOptions {
  return {
    api: lab.api,
    config: loaded.config,
    derived: loaded.derived,
    cacheDir: join(lab.dir, 'cache'),
    upstreamFile,
    manifestUrl: url,
    events: (e) => events.push(e),
    timeoutMs: 60_000,
    pollMs: 5,
  }
}

/** Every stored object's resourceVersion, by kind/namespace/name. */
function versions(standin: KubeStandin): Map<string, string> {
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
  // one byte of a selector changed: what a compromised mirror or a moved tag could serve
  tampered = Buffer.from(
    fixture
      .toString('utf8')
      .replace('{ app.kubernetes.io/name: argocd-server }', '{ app.kubernetes.io/name: argocd-servers }'),
  )
  assert.notDeepEqual(tampered, fixture)
  manifestServer = createServer((req, res) => {
    manifestHits++
    const body =
      req.url === '/install.yaml' ? fixture : req.url === '/tampered/install.yaml' ? tampered : undefined
    if (body === undefined) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/yaml', 'content-length': body.length }).end(body)
  })
  await new Promise<void>((r) => manifestServer.listen(0, '127.0.0.1', r))
  manifestUrl = `http://127.0.0.1:${(manifestServer.address() as AddressInfo).port}/install.yaml`
  loaded = await loadConfig(join(ROOT, 'homelab.yaml'))
})

after(async () => {
  await new Promise<void>((r) => (manifestServer ? manifestServer.close(() => r()) : r()))
  manifestServer?.closeAllConnections()
  await rm(dir, { recursive: true, force: true })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) refuses an unpinned manifest before downloading or touching the cluster', async () => {
  await withLab(async (lab) => {
    const file = await upstream(lab, 'unpinned.yaml', '')
    const hits = manifestHits
    await assert.rejects(bootstrap(options(lab, file)), (error: Error) => {
      assert.ok(error instanceof ArgocdPinError)
      assert.match(error.message, /^Cannot install ArgoCD v3\.5\.1: .*unpinned\.yaml pins no sha256/)
      assert.match(error.message, /run `homelab bootstrap --pin-argocd`/)
      return true
    })
    assert.equal(manifestHits, hits)
    assert.deepEqual(lab.standin.requests(), [])
  })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) refuses a manifest whose sha256 differs from the pin, touching nothing', async () => {
  await withLab(async (lab) => {
    const file = await upstream(lab, 'wrong.yaml', 'ab'.repeat(32))
    const hits = manifestHits
    await assert.rejects(
      bootstrap(options(lab, file)),
      /its sha256 is [0-9a-f]{64}, but .*wrong\.yaml says abab/,
    )
    assert.equal(manifestHits, hits + 1)
    assert.deepEqual(lab.standin.requests(), [])
  })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) refuses a tampered copy of the pinned manifest with a clear error, touching nothing', async () => {
  await withLab(async (lab) => {
    const file = await pinned(lab)
    const tamperedUrl = manifestUrl.replace('/install.yaml', '/tampered/install.yaml')
    await assert.rejects(bootstrap(options(lab, file, [], tamperedUrl)), (error: Error) => {
      assert.match(
        error.message,
        /the ArgoCD v3\.5\.1 install manifest.*its sha256 is [0-9a-f]{64}, but .*upstream\.yaml says [0-9a-f]{64}/s,
      )
      return true
    })
    assert.deepEqual(lab.standin.requests(), [])
    // and the tampered bytes were not kept: the genuine copy downloads and applies afterwards
    const result = await bootstrap(options(lab, file))
    assert.equal(result.root, 'created')
  })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) applies namespace, CRDs, waits Established, the rest, waits Available, then the root app (seed)', async () => {
  await withLab(async (lab) => {
    const file = await pinned(lab)
    const events: BootstrapEvent[] = []
    const hitsBefore = manifestHits
    const result = await bootstrap(options(lab, file, events))
    assert.equal(manifestHits, hitsBefore + 1)
    const log = lab.standin.requests()
    const applies = log.filter((r) => r.method === 'PATCH')
    assert.deepEqual(
      applies.map((r) => r.path),
      [
        '/api/v1/namespaces/argocd',
        ...CRDS.map((c) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c}`),
        '/api/v1/namespaces/argocd/serviceaccounts/argocd-application-controller',
        '/api/v1/namespaces/argocd/serviceaccounts/argocd-server',
        '/apis/rbac.authorization.k8s.io/v1/namespaces/argocd/roles/argocd-server',
        '/apis/rbac.authorization.k8s.io/v1/clusterroles/argocd-application-controller',
        '/apis/rbac.authorization.k8s.io/v1/namespaces/argocd/rolebindings/argocd-server',
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/argocd-application-controller',
        '/api/v1/namespaces/argocd/configmaps/argocd-cm',
        '/api/v1/namespaces/argocd/configmaps/argocd-cmd-params-cm',
        '/api/v1/namespaces/argocd/secrets/argocd-secret',
        ...[
          'argocd-metrics',
          'argocd-redis',
          'argocd-repo-server',
          'argocd-server',
          'argocd-server-metrics',
        ].map((s) => `/api/v1/namespaces/argocd/services/${s}`),
        ...WORKLOADS.map((w) => `/apis/apps/v1/namespaces/argocd/${w}`),
        '/api/v1/namespaces/argocd/configmaps/argocd-cm',
        '/api/v1/namespaces/argocd/configmaps/argocd-rbac-cm',
        '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root',
      ],
    )
    // ArgoCD's login through Dex: its own field manager, so that ArgoCD's apply of install/ keeps it.
    const sso = applies.filter((r) => r.fieldManager === SSO_FIELD_MANAGER).map((r) => r.path)
    assert.deepEqual(sso, [
      '/api/v1/namespaces/argocd/configmaps/argocd-cm',
      '/api/v1/namespaces/argocd/configmaps/argocd-rbac-cm',
    ])
    const argocdCm = await lab.api.get<KubeObject>('/api/v1/namespaces/argocd/configmaps/argocd-cm')
    const cmData = argocdCm?.data as Record<string, string>
    assert.equal(cmData.url, 'https://argocd.lab.home.arpa')
    assert.equal(
      cmData['oidc.config'],
      (argocdSsoObjects('lab.home.arpa')[0] as unknown as { data: Record<string, string> }).data[
        'oidc.config'
      ],
    )
    assert.equal(cmData['application.resourceTrackingMethod'], 'annotation', "install/'s own keys stay")
    for (const r of applies.filter((r) => r.fieldManager !== SSO_FIELD_MANAGER)) {
      assert.equal(r.fieldManager, FIELD_MANAGER, r.path)
      assert.equal(r.query.force, 'true', r.path)
      assert.equal(r.contentType, 'application/apply-patch+yaml', r.path)
    }
    // The stand-in serves each new CRD un-Established twice: the third read of each is the first
    // that can see Established=True. All of them came before anything else was applied.
    const firstOther = log.findIndex((r) => r.method === 'PATCH' && r.path.includes('serviceaccounts'))
    const reads = (path: string, from: number, to: number) =>
      log.slice(from, to).filter((r) => r.method === 'GET' && r.status === 200 && r.path === path).length
    for (const c of CRDS) {
      const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c}`
      assert.deepEqual([c, reads(path, 0, firstOther), reads(path, firstOther, log.length)], [c, 3, 0])
    }
    const waiting = (step: string) =>
      events.flatMap((e) =>
        e.type === 'bootstrap.waiting' && e.step === step
          ? [e.pending.map((p) => `${p.name}: ${p.lastSeen}`)]
          : [],
      )
    const installing = CRDS.map((c) => `${c}: Established=False: Installing`)
    assert.deepEqual(waiting('established'), [installing, installing])
    // Likewise the workloads: each read three times, before the Gitea check and the root app.
    const giteaCheck = log.findIndex((r) => r.path.includes('/services/gitea-http:3000/proxy/'))
    const rootApply = log.findIndex((r) => r.method === 'PATCH' && r.path.endsWith('/applications/root'))
    for (const w of WORKLOADS) {
      const path = `/apis/apps/v1/namespaces/argocd/${w}`
      assert.deepEqual(
        [w, reads(path, firstOther, giteaCheck), reads(path, giteaCheck, log.length)],
        [w, 3, 0],
      )
    }
    const rolling = [
      'deployment/argocd-redis: no Available condition yet',
      'deployment/argocd-repo-server: no Available condition yet',
      'deployment/argocd-server: no Available condition yet',
      'statefulset/argocd-application-controller: 0 ready replicas',
    ]
    assert.deepEqual(waiting('available'), [rolling, rolling])
    assert.ok(firstOther < giteaCheck && giteaCheck < rootApply, `${firstOther} ${giteaCheck} ${rootApply}`)
    assert.equal(
      log[giteaCheck]?.path,
      '/api/v1/namespaces/gitea/services/gitea-http:3000/proxy/api/v1/repos/ops/homelab',
    )
    assert.equal(log[giteaCheck]?.status, 404)

    assert.equal(result.source, 'seed')
    assert.equal(result.root, 'created')
    assert.ok(result.objects.every((o) => o.result === 'created'))
    const cm = await lab.api.get<KubeObject>('/api/v1/namespaces/argocd/configmaps/argocd-cmd-params-cm')
    assert.deepEqual(cm?.data, { 'server.insecure': 'true', 'controller.diff.server.side': 'true' })
    // what was applied is what the argocd-install Application renders (argocd/adoption.test.ts):
    // the selectors are upstream's, untouched
    const server = await lab.api.get<KubeObject>('/apis/apps/v1/namespaces/argocd/deployments/argocd-server')
    assert.deepEqual((server?.spec as { selector?: unknown } | undefined)?.selector, {
      matchLabels: { 'app.kubernetes.io/name': 'argocd-server' },
    })
    assert.equal(
      (cm?.metadata.labels as Record<string, string> | undefined)?.['app.kubernetes.io/part-of'],
      'argocd',
    )
    const root = await lab.api.get<KubeObject>(
      '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/root',
    )
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
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) run again changes nothing: no resourceVersion moves, the cached manifest is reused', async () => {
  await withLab(async (lab) => {
    const file = await pinned(lab)
    const firstEvents: BootstrapEvent[] = []
    const first = await bootstrap(options(lab, file, firstEvents))
    assert.equal(first.root, 'created')
    const secrets = (events: BootstrapEvent[]) =>
      events.flatMap((e) =>
        e.type === 'bootstrap.object' && e.step === 'secrets' ? [`${e.namespace}/${e.name} ${e.result}`] : [],
      )
    const places = GENERATED_SECRETS.flatMap((s) => s.places.map((p) => `${p.namespace}/${p.name}`))
    assert.deepEqual(
      secrets(firstEvents),
      places.map((p) => `${p} created`),
    )
    const before = versions(lab.standin)
    const hits = manifestHits
    const events: BootstrapEvent[] = []
    const result = await bootstrap(options(lab, file, events))
    assert.deepEqual(versions(lab.standin), before)
    assert.deepEqual(
      secrets(events),
      places.map((p) => `${p} unchanged`),
    )
    assert.equal(manifestHits, hits)
    assert.deepEqual(
      result.objects.filter((o) => o.result !== 'unchanged'),
      [],
    )
    assert.equal(result.root, 'unchanged')
  })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) recreates a deleted root app', async () => {
  await withLab(async (lab) => {
    const file = await pinned(lab)
    await bootstrap(options(lab, file))
    assert.equal(await lab.api.delete(ROOT_APP_PATH), true)
    const result = await bootstrap(options(lab, file))
    assert.equal(result.root, 'created')
    assert.ok(await lab.api.get(ROOT_APP_PATH))
    assert.deepEqual(
      result.objects.filter((o) => o.kind !== 'Application' && o.result !== 'unchanged'),
      [],
    )
  })
})

test('bootstrap() (stand-in Kubernetes API, stand-in ArgoCD manifest) follows the in-cluster Gitea once it serves the repo (stand-in service proxy)', async () => {
  await withLab(async (lab) => {
    const file = await pinned(lab)
    assert.equal((await bootstrap(options(lab, file))).source, 'seed')
    const asked: string[] = []
    lab.standin.setServiceProxy('gitea', 'gitea-http:3000', (path) => {
      asked.push(path)
      return path === '/api/v1/repos/ops/homelab'
        ? { status: 200, body: { full_name: 'ops/homelab', empty: false } }
        : { status: 404, body: { message: 'not found' } }
    })
    const result = await bootstrap(options(lab, file))
    assert.deepEqual(asked, ['/api/v1/repos/ops/homelab'])
    assert.equal(result.source, 'gitea')
    assert.equal(result.root, 'changed')
    const root = await lab.api.get<KubeObject>(ROOT_APP_PATH)
    const source = ((root?.spec ?? {}) as { source: Source }).source
    assert.equal(source.repoURL, 'http://gitea-http.gitea.svc:3000/ops/homelab.git')
    assert.equal(
      source.helm.valuesObject.global.homelab.repoURL,
      'http://gitea-http.gitea.svc:3000/ops/homelab.git',
    )
  })
})

test("homelab status on the stand-in Kubernetes API prints nodes, Applications with sync and health, and the routes' URLs (real CLI)", async () => {
  await withLab(async (lab) => {
    await bootstrap(options(lab, await pinned(lab)))
    const { standin } = lab
    standin.addNode({ name: 'metal0', role: 'server', ip: '10.77.0.10', readyAfterReads: 0 })
    // held NotReady however often and however late the CLI reads it
    standin.addNode({
      name: 'metal1',
      role: 'agent',
      ip: '10.77.0.11',
      readyAfterReads: Number.POSITIVE_INFINITY,
    })
    const root = standin.store.get(
      standin.store.resourceOfKind('argoproj.io/v1alpha1', 'Application'),
      'argocd',
      'root',
    )
    root.status = { sync: { status: 'Synced' }, health: { status: 'Progressing' } }
    standin.store.put(root)
    const state = join(lab.dir, 'state')
    await rm(state, { recursive: true, force: true })
    await mkdir(state)
    await writeFile(
      join(state, 'kubeconfig'),
      rewriteKubeconfigServer(lab.standin.kubeconfig, lab.standin.url),
    )
    const run = (json: boolean) =>
      promisify(execFile)(
        join(ROOT, 'bin', 'homelab'),
        ['status', '--state', state, '-c', join(ROOT, 'homelab.yaml'), ...(json ? ['--json'] : [])],
        { cwd: ROOT },
      )
    // Before the Gateway API CRDs exist (the API answers 404 for HTTPRoutes): no route, no failure.
    assert.match((await run(false)).stdout, /\nurls\n {2}no route yet\n$/)
    standin.store.addResource({
      group: 'gateway.networking.k8s.io',
      versions: ['v1'],
      plural: 'httproutes',
      kind: 'HTTPRoute',
      namespaced: true,
    })
    standin.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } })
    const route = (name: string, namespace: string, hostnames: string[]) =>
      standin.store.put({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name, namespace },
        spec: { hostnames },
      })
    route('grafana', 'monitoring', ['grafana.lab.home.arpa'])
    route('matrix', 'matrix', ['matrix.lab.home.arpa'])
    // The http listener's redirect: a wildcard, not a page.
    route('https-redirect', 'envoy-gateway', ['*.lab.home.arpa'])
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
        '  https://matrix.lab.home.arpa',
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
    assert.deepEqual(event.urls, ['https://grafana.lab.home.arpa', 'https://matrix.lab.home.arpa'])
    assert.deepEqual(
      event.nodes.map((n: { name: string; ready: boolean }) => [n.name, n.ready]),
      [
        ['metal0', true],
        ['metal1', false],
      ],
    )
    const nodeReads = standin.requests().filter((r) => r.method === 'GET' && r.path === '/api/v1/nodes')
    assert.equal(nodeReads.length, 3, 'each run read the nodes')
  })
})

test('bootstrap() with vault (stand-in Kubernetes API, stand-in Vault HTTP API) waits until Vault answers, initialises and unseals it, configures its Dex login; keys only in the 0600 file', async () => {
  await withLab(async (lab) => {
    const vault = await startVaultStandin()
    const stateDir = join(lab.dir, 'state')
    try {
      const direct = httpTransport(vault.url)
      let refusals = 2 // Vault not running yet: the service proxy answers 503 until it has been asked twice
      const transport: VaultTransport = async (method, path, opts) =>
        refusals-- > 0
          ? { status: 503, body: 'no endpoints available for service "vault"' }
          : direct(method, path, opts)
      const events: BootstrapEvent[] = []
      await bootstrap({ ...options(lab, await pinned(lab), events), vault: { stateDir, transport } })
      assert.ok(events.some((e) => e.type === 'bootstrap.waiting' && e.step === 'vault'))
      assert.deepEqual(vault.state(), { initialized: true, sealed: false, progress: 0 })
      const config = vault.written.get('auth/oidc/config') as Record<string, string>
      assert.equal(config.oidc_client_secret, await readSecret(lab.api, 'oidc-vault'))
      assert.equal(config.oidc_discovery_url, 'https://dex.lab.home.arpa')
      assert.equal((await stat(keysFile(stateDir))).mode & 0o777, 0o600)
      const keys = JSON.parse(await readFile(keysFile(stateDir), 'utf8')) as {
        keys_base64: string[]
        root_token: string
      }
      const text = JSON.stringify(events)
      for (const secret of [...keys.keys_base64, keys.root_token, config.oidc_client_secret as string])
        assert.ok(!text.includes(secret), 'no key, token or client secret in any event')
    } finally {
      await vault.close()
    }
  })
})
