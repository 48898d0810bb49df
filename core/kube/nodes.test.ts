import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  EVICTION_REFUSALS_ANNOTATION,
  type KubeStandin,
  startKubeStandin,
  TERMINATION_MS_ANNOTATION,
} from '../../test/harness/kube-standin.ts'
import { createKubeClient, type KubeClient } from './client.ts'
import { parseKubeconfig, rewriteKubeconfigServer } from './kubeconfig.ts'
import { type DrainEvent, deleteNode, drain, listNodes, uncordon } from './nodes.ts'

let dir: string
let standin: KubeStandin
let kube: KubeClient

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-nodes-'))
  standin = await startKubeStandin({
    dir,
    readyAfterMs: 300,
    nodes: [
      { name: 'metal0', role: 'server', ip: '10.1.2.10' },
      { name: 'metal1', role: 'agent', ip: '10.1.2.11', readyAfterMs: 0 },
    ],
  })
  kube = createKubeClient(
    parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in'),
  )
})

after(async () => {
  await standin.close()
  await rm(dir, { recursive: true, force: true })
})

test('listNodes() reports roles, address, version, and nodes turn Ready after the stand-in delay', async () => {
  const started = Date.now()
  const first = await listNodes(kube)
  const metal0 = first.find((n) => n.name === 'metal0')
  assert.deepEqual(metal0, {
    name: 'metal0',
    ready: false,
    readyReason: 'KubeletNotReady',
    readyMessage: 'container runtime network not ready: cni plugin not initialized',
    roles: ['control-plane', 'master'],
    kubeletVersion: 'v1.33.5+k3s1',
    internalIP: '10.1.2.10',
    unschedulable: false,
  })
  let ready = false
  while (!ready && Date.now() - started < 3000) {
    await new Promise((r) => setTimeout(r, 25))
    ready = (await listNodes(kube)).every((n) => n.ready)
  }
  assert.ok(ready, 'the nodes never turned Ready')
  assert.ok(Date.now() - started >= 250, 'metal0 turned Ready before its delay')
  const nodes = await listNodes(kube)
  assert.deepEqual(
    nodes.map((n) => [n.name, n.ready, n.readyReason, n.roles]),
    [
      ['metal0', true, 'KubeletReady', ['control-plane', 'master']],
      ['metal1', true, 'KubeletReady', []],
    ],
  )
})

test('drain() on the stand-in API server: evicts the pods on the node, leaves DaemonSet and mirror pods, retries refused evictions; deleteNode() removes it', async () => {
  const pod = (name: string, node: string, extra: object = {}) =>
    standin.store.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', ...extra },
      spec: { nodeName: node },
    })
  pod('web-1', 'metal1')
  pod('web-2', 'metal1', { annotations: { [EVICTION_REFUSALS_ANNOTATION]: '2' } })
  pod('web-3', 'metal0')
  pod('svclb-1', 'metal1', {
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'svclb', controller: true }],
  })
  pod('static-1', 'metal1', { annotations: { 'kubernetes.io/config.mirror': 'abc' } })
  const events: DrainEvent[] = []
  await drain(kube, 'metal1', { timeoutMs: 3000, retryDelayMs: 10, onEvent: (e) => events.push(e) })
  const left = await kube.list<{ metadata: { name: string } }>('/api/v1/namespaces/default/pods')
  assert.deepEqual(
    left.items.map((p) => p.metadata.name),
    ['static-1', 'svclb-1', 'web-3'],
  )
  assert.deepEqual(
    events.filter((e) => e.type !== 'drain.evicting').map((e) => [e.type, 'pod' in e ? e.pod : '']),
    [
      ['drain.cordoned', ''],
      ['drain.skipped', 'default/static-1'],
      ['drain.skipped', 'default/svclb-1'],
      ['drain.blocked', 'default/web-2'],
      ['drain.blocked', 'default/web-2'],
      ['drain.done', ''],
    ],
  )
  assert.equal((await listNodes(kube)).find((n) => n.name === 'metal1')?.unschedulable, true)
  const evictions = standin.requests().filter((r) => r.path.endsWith('/eviction'))
  assert.deepEqual(evictions.map((r) => r.status).sort(), [201, 201, 429, 429])
  await uncordon(kube, 'metal1')
  assert.equal((await listNodes(kube)).find((n) => n.name === 'metal1')?.unschedulable, false)
  assert.equal(await deleteNode(kube, 'metal1'), true)
  assert.equal(await deleteNode(kube, 'metal1'), false)
  assert.deepEqual(
    (await listNodes(kube)).map((n) => n.name),
    ['metal0'],
  )
})

test('drain() on the stand-in API server: fails naming the pod when a disruption budget keeps refusing past the timeout', async () => {
  standin.store.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db-0', namespace: 'default', annotations: { [EVICTION_REFUSALS_ANNOTATION]: '1000' } },
    spec: { nodeName: 'metal0' },
  })
  await assert.rejects(
    drain(kube, 'metal0', { timeoutMs: 200, retryDelayMs: 20 }),
    /^Error: Cannot drain node "metal0": eviction still refused after 200 ms: "default\/db-0": check the PodDisruptionBudgets/,
  )
})

test('drain() on the stand-in API server: waits for evicted pods to terminate, and fails naming the pods still there at its timeout', async () => {
  standin.addNode({ name: 'metal2', role: 'agent', ip: '10.1.2.12', readyAfterMs: 0 })
  const pod = (name: string, ms: number) =>
    standin.store.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', annotations: { [TERMINATION_MS_ANNOTATION]: String(ms) } },
      spec: { nodeName: 'metal2' },
    })
  pod('slow-0', 150)
  const started = Date.now()
  await drain(kube, 'metal2', { timeoutMs: 2000, pollMs: 20 })
  assert.ok(Date.now() - started >= 140, 'drain() returned before the pod was gone')
  assert.equal(await kube.get('/api/v1/namespaces/default/pods/slow-0'), undefined)
  pod('stuck-0', 5000)
  await assert.rejects(
    drain(kube, 'metal2', { timeoutMs: 150, pollMs: 20 }),
    /^Error: Cannot drain node "metal2": pods still on the node after 150 ms: "default\/stuck-0": check/,
  )
})
