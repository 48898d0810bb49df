import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type KubeStandin, startKubeStandin } from '../../test/harness/kube-standin.ts'
import { createKubeClient, KubeApiError, type KubeClient, KubeConnectError } from './client.ts'
import { parseKubeconfig, rewriteKubeconfigServer } from './kubeconfig.ts'

let dir: string
let standin: KubeStandin
let kube: KubeClient

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-client-'))
  standin = await startKubeStandin({ dir, crdEstablishedAfterReads: 1 })
  kube = createKubeClient(
    parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in'),
  )
})

after(async () => {
  await standin.close()
  await rm(dir, { recursive: true, force: true })
})

test('the stand-in API server answers 401 to a client without a certificate', async () => {
  const config = parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in')
  delete config.cert
  delete config.key
  const anonymous = createKubeClient(config)
  const error = await anonymous.request('GET', '/api/v1/nodes').catch((e: unknown) => e)
  assert.ok(error instanceof KubeApiError)
  assert.equal(error.status, 401)
  assert.equal(error.reason, 'Unauthorized')
  assert.equal(error.message, 'Kubernetes API GET /api/v1/nodes: 401 Unauthorized: Unauthorized')
})

test('KubeClient.get() against the stand-in API server: returns the object, or undefined on 404; request() throws KubeApiError', async () => {
  const ns = await kube.get<{ metadata: { name: string; uid: string } }>('/api/v1/namespaces/kube-system')
  assert.equal(ns?.metadata.name, 'kube-system')
  assert.match(ns?.metadata.uid ?? '', /^[0-9a-f-]{36}$/)
  assert.equal(await kube.get('/api/v1/nodes/x'), undefined)
  const error = await kube.request('GET', '/api/v1/nodes/x').catch((e: unknown) => e)
  assert.ok(error instanceof KubeApiError)
  assert.equal(error.status, 404)
  assert.equal(error.reason, 'NotFound')
  assert.equal(error.method, 'GET')
  assert.equal(error.path, '/api/v1/nodes/x')
  assert.equal(error.message, 'Kubernetes API GET /api/v1/nodes/x: 404 NotFound: nodes "x" not found')
})

test('KubeClient.list() against the stand-in API server: filters by label selector; create twice is 409 AlreadyExists; delete() is false when gone', async () => {
  const cm = (name: string, app: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels: { app } },
    data: { k: name },
  })
  await kube.request('POST', '/api/v1/namespaces/default/configmaps', { body: cm('a', 'one') })
  await kube.request('POST', '/api/v1/namespaces/default/configmaps', { body: cm('b', 'two') })
  const conflict = await kube
    .request('POST', '/api/v1/namespaces/default/configmaps', { body: cm('a', 'one') })
    .catch((e: unknown) => e)
  assert.ok(conflict instanceof KubeApiError)
  assert.equal(conflict.status, 409)
  assert.equal(conflict.reason, 'AlreadyExists')
  const list = await kube.list<{ metadata: { name: string } }>('/api/v1/namespaces/default/configmaps', {
    labelSelector: 'app=two',
  })
  assert.deepEqual(
    list.items.map((i) => i.metadata.name),
    ['b'],
  )
  assert.equal(list.kind, 'ConfigMapList')
  assert.equal(await kube.delete('/api/v1/namespaces/default/configmaps/a'), true)
  assert.equal(await kube.delete('/api/v1/namespaces/default/configmaps/a'), false)
  const missingNs = await kube
    .request('POST', '/api/v1/namespaces/nowhere/configmaps', { body: cm('c', 'x') })
    .catch((e: unknown) => e)
  assert.ok(missingNs instanceof KubeApiError)
  assert.equal(
    missingNs.message,
    'Kubernetes API POST /api/v1/namespaces/nowhere/configmaps: 404 NotFound: namespaces "nowhere" not found',
  )
})

test('KubeClient.apply() against the stand-in API server: creates then updates with server-side apply, recording the field manager', async () => {
  const path = '/api/v1/namespaces/default/configmaps/applied'
  const object = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'applied', namespace: 'default' },
    data: { a: '1' },
  }
  type Cm = {
    data: Record<string, string>
    metadata: { resourceVersion: string; managedFields: { manager: string }[] }
  }
  const first = await kube.apply<Cm>(path, object, { fieldManager: 'homelab' })
  const second = await kube.apply<Cm>(
    path,
    { ...object, data: { a: '2', b: '3' } },
    { fieldManager: 'homelab' },
  )
  assert.deepEqual(second.data, { a: '2', b: '3' })
  assert.notEqual(second.metadata.resourceVersion, first.metadata.resourceVersion)
  assert.deepEqual(
    second.metadata.managedFields.map((f) => f.manager),
    ['homelab'],
  )
  const applies = standin.requests().filter((r) => r.path === path && r.method === 'PATCH')
  assert.deepEqual(
    applies.map((r) => [r.status, r.contentType, r.fieldManager, r.query.force]),
    [
      [201, 'application/apply-patch+yaml', 'homelab', 'true'],
      [200, 'application/apply-patch+yaml', 'homelab', 'true'],
    ],
  )
  const logged = (await readFile(join(dir, 'requests.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.ok(logged.some((r) => r.path === path && r.fieldManager === 'homelab' && r.status === 201))
})

test('KubeClient.patch() against the stand-in API server: merges, and json patches replace', async () => {
  const path = '/api/v1/namespaces/default/configmaps/patched'
  await kube.request('POST', '/api/v1/namespaces/default/configmaps', {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched' }, data: { a: '1', b: '2' } },
  })
  const merged = await kube.patch<{ data: object }>(path, { data: { a: null, c: '3' } }, 'merge')
  assert.deepEqual(merged.data, { b: '2', c: '3' })
  const replaced = await kube.patch<{ data: object }>(
    path,
    [{ op: 'replace', path: '/data/b', value: 'x' }],
    'json',
  )
  assert.deepEqual(replaced.data, { b: 'x', c: '3' })
})

test('KubeClient.resourceFor() against the stand-in API server: discovers a CRD once it is established, after invalidateDiscovery()', async () => {
  assert.deepEqual(await kube.resourceFor('apps/v1', 'Deployment'), {
    prefix: '/apis/apps/v1',
    plural: 'deployments',
    namespaced: true,
  })
  await assert.rejects(
    kube.resourceFor('argoproj.io/v1alpha1', 'Application'),
    /^Error: Cannot find resource argoproj\.io\/v1alpha1 Application: the API has no \/apis\/argoproj\.io\/v1alpha1: create its CustomResourceDefinition first/,
  )
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'applications.argoproj.io' },
    spec: {
      group: 'argoproj.io',
      names: { kind: 'Application', plural: 'applications', singular: 'application' },
      scope: 'Namespaced',
      versions: [
        { name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } },
      ],
    },
  }
  const crdPath = await kube.objectPath(crd)
  assert.equal(crdPath, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io')
  await kube.apply(crdPath, crd, { fieldManager: 'homelab' })
  type Crd = { status: { conditions: { type: string; status: string }[] } }
  const established = async () =>
    (await kube.get<Crd>(crdPath))?.status.conditions.find((c) => c.type === 'Established')?.status
  // The stand-in serves a new CRD un-Established once (crdEstablishedAfterReads), its kind not served till then.
  kube.invalidateDiscovery()
  await assert.rejects(
    kube.resourceFor('argoproj.io/v1alpha1', 'Application'),
    /create its CustomResourceDefinition first/,
  )
  assert.equal(await established(), 'False')
  assert.equal(await established(), 'True')
  kube.invalidateDiscovery()
  const app = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'root', namespace: 'default' },
  }
  assert.equal(await kube.objectPath(app), '/apis/argoproj.io/v1alpha1/namespaces/default/applications/root')
  await kube.apply(
    await kube.objectPath(app),
    { ...app, spec: { project: 'default' } },
    { fieldManager: 'homelab' },
  )
  const list = await kube.list<{ spec: object }>('/apis/argoproj.io/v1alpha1/applications')
  assert.deepEqual(
    list.items.map((i) => i.spec),
    [{ project: 'default' }],
  )
})

test('createKubeClient() names the server and what to check when it cannot connect', async () => {
  const closed = createKubeClient({
    server: 'https://127.0.0.1:1',
    insecureSkipTlsVerify: false,
    contextName: 'x',
  })
  const error = await closed.request('GET', '/api/v1/nodes').catch((e: unknown) => e)
  assert.ok(error instanceof KubeConnectError)
  assert.match(
    error.message,
    /^Cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1 \(GET \/api\/v1\/nodes\): ECONNREFUSED: check that the server is up/,
  )
})
