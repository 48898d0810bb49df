import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  EVICTION_REFUSALS_ANNOTATION,
  type KubeStandin,
  type StandinNode,
  startKubeStandin,
  TERMINATION_READS_ANNOTATION,
} from '../../test/harness/kube-standin.ts'
import { manualClock } from '../poll/index.ts'
import { createKubeClient, type KubeClient } from './client.ts'
import { parseKubeconfig, rewriteKubeconfigServer } from './kubeconfig.ts'
import { type DrainEvent, deleteNode, drain, listNodes, uncordon } from './nodes.ts'

/** A stand-in API server with these nodes for one test, closed and deleted after it, pass or fail. */
async function withStandin(
  nodes: StandinNode[],
  body: (kube: KubeClient, standin: KubeStandin) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-nodes-'))
  let standin: KubeStandin | undefined
  try {
    standin = await startKubeStandin({ dir, nodes })
    const kube = createKubeClient(
      parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in'),
    )
    await body(kube, standin)
  } finally {
    await standin?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const METAL0: StandinNode = { name: 'metal0', role: 'server', ip: '10.1.2.10' }
const METAL1: StandinNode = { name: 'metal1', role: 'agent', ip: '10.1.2.11', readyAfterReads: 0 }

test('listNodes() reports roles, address, version, and a NotReady node with its reason until the stand-in turns it Ready', async () => {
  await withStandin([{ ...METAL0, readyAfterReads: 2 }, METAL1], async (kube) => {
    const first = await listNodes(kube)
    assert.deepEqual(first, [
      {
        name: 'metal0',
        ready: false,
        readyReason: 'KubeletNotReady',
        readyMessage: 'container runtime network not ready: cni plugin not initialized',
        roles: ['control-plane', 'master'],
        kubeletVersion: 'v1.33.5+k3s1',
        internalIP: '10.1.2.10',
        unschedulable: false,
      },
      {
        name: 'metal1',
        ready: true,
        readyReason: 'KubeletReady',
        readyMessage: 'kubelet is posting ready status',
        roles: [],
        kubeletVersion: 'v1.33.5+k3s1',
        internalIP: '10.1.2.11',
        unschedulable: false,
      },
    ])
    const second = await listNodes(kube)
    assert.deepEqual(
      second.map((n) => [n.name, n.ready]),
      [
        ['metal0', false],
        ['metal1', true],
      ],
    )
    // served NotReady twice: Ready from the third read on
    const third = await listNodes(kube)
    assert.deepEqual(
      third.map((n) => [n.name, n.ready, n.readyReason, n.roles]),
      [
        ['metal0', true, 'KubeletReady', ['control-plane', 'master']],
        ['metal1', true, 'KubeletReady', []],
      ],
    )
  })
})

test('drain() on the stand-in API server: evicts the pods on the node, leaves DaemonSet and mirror pods, retries refused evictions with backoff; deleteNode() removes it', async () => {
  await withStandin([METAL0, METAL1], async (kube, standin) => {
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
    const { clock, slept } = manualClock()
    await drain(kube, 'metal1', { timeoutMs: 3000, retryDelayMs: 10, onEvent: (e) => events.push(e), clock })
    const left = await kube.list<{ metadata: { name: string } }>('/api/v1/namespaces/default/pods')
    assert.deepEqual(
      left.items.map((p) => p.metadata.name),
      ['static-1', 'svclb-1', 'web-3'],
    )
    assert.deepEqual(
      events
        .filter((e) => e.type !== 'drain.evicting')
        .map((e) => [e.type, 'pod' in e ? e.pod : '', e.type === 'drain.blocked' ? e.delayMs : '']),
      [
        ['drain.cordoned', '', ''],
        ['drain.skipped', 'default/static-1', ''],
        ['drain.skipped', 'default/svclb-1', ''],
        ['drain.blocked', 'default/web-2', 10],
        ['drain.blocked', 'default/web-2', 20],
        ['drain.done', '', ''],
      ],
    )
    assert.deepEqual(slept, [10, 20], 'the backoff doubles; the evicted pods were gone at the first check')
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
})

test('drain() on the stand-in API server: fails naming the pod when a disruption budget keeps refusing past the timeout', async () => {
  await withStandin([METAL0], async (kube, standin) => {
    standin.store.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'db-0',
        namespace: 'default',
        annotations: { [EVICTION_REFUSALS_ANNOTATION]: '1000' },
      },
      spec: { nodeName: 'metal0' },
    })
    const { clock, slept, now } = manualClock()
    const blocked: number[] = []
    await assert.rejects(
      drain(kube, 'metal0', {
        timeoutMs: 200,
        retryDelayMs: 20,
        clock,
        onEvent: (e) => e.type === 'drain.blocked' && blocked.push(e.attempt),
      }),
      /^Error: Cannot drain node "metal0": eviction still refused after 200 ms: "default\/db-0": check the PodDisruptionBudgets/,
    )
    // 20 + 40 + 80 = 140 ms waited; the next wait (160 ms) would pass the 200 ms deadline
    assert.deepEqual([blocked, slept, now()], [[1, 2, 3], [20, 40, 80], 140])
  })
})

test('drain() on the stand-in API server: waits for evicted pods to terminate, and fails naming the pods still there at its timeout', async () => {
  await withStandin(
    [{ name: 'metal2', role: 'agent', ip: '10.1.2.12', readyAfterReads: 0 }],
    async (kube, standin) => {
      const pod = (name: string, reads: string) =>
        standin.store.put({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'default', annotations: { [TERMINATION_READS_ANNOTATION]: reads } },
          spec: { nodeName: 'metal2' },
        })
      // slow-0 is still there, terminating, the first two times it is listed
      pod('slow-0', '2')
      const events: string[] = []
      const first = manualClock()
      await drain(kube, 'metal2', {
        timeoutMs: 2000,
        pollMs: 20,
        clock: first.clock,
        onEvent: (e) => events.push(e.type),
      })
      assert.deepEqual(first.slept, [20, 20], 'drain() polled until the pod was gone')
      assert.deepEqual(events, ['drain.cordoned', 'drain.evicting', 'drain.done'])
      assert.equal(await kube.get('/api/v1/namespaces/default/pods/slow-0'), undefined)

      pod('stuck-0', 'never')
      const second = manualClock()
      await assert.rejects(
        drain(kube, 'metal2', { timeoutMs: 150, pollMs: 20, clock: second.clock }),
        /^Error: Cannot drain node "metal2": pods still on the node after 150 ms: "default\/stuck-0": check/,
      )
      // checked at 0, 20, ... 140 ms: one more wait would pass the deadline
      assert.equal(second.now(), 140)
    },
  )
})
