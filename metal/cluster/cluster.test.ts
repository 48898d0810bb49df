import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createKubeClient, type KubeClient } from '../../lib/kube/client.ts'
import { parseKubeconfig, rewriteKubeconfigServer } from '../../lib/kube/kubeconfig.ts'
import type { Clock } from '../../lib/poll/index.ts'
import { type KubeStandin, type StandinNode, startKubeStandin } from '../../test/harness/kube-standin.ts'
import { type ClusterEvent, waitReady } from './cluster.ts'

/** A clock whose sleeps pass at once and are counted: waitReady()'s timeout without waiting for it. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0
  const slept: number[] = []
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms)
      t += ms
    },
  }
}

const NOT_READY =
  'NotReady: KubeletNotReady (container runtime network not ready: cni plugin not initialized)'

/** A stand-in API server with these nodes for one test, closed and deleted after it, pass or fail. */
async function withStandin(
  nodes: StandinNode[],
  body: (kube: KubeClient, standin: KubeStandin) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cluster-ready-'))
  let standin: KubeStandin | undefined
  try {
    standin = await startKubeStandin({ dir, nodes })
    await body(
      createKubeClient(parseKubeconfig(rewriteKubeconfigServer(standin.kubeconfig, standin.url), 'stand-in')),
      standin,
    )
  } finally {
    await standin?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

const line = (e: ClusterEvent) =>
  e.type === 'node.waiting'
    ? `${e.node}: ${e.lastSeen}`
    : e.type === 'node.ready'
      ? `${e.node}: Ready`
      : e.type

test('waitReady() on the stand-in API server: reports a node NotReady once, then Ready, and leaves none behind', async () => {
  await withStandin(
    [
      { name: 'metal0', role: 'server', ip: '10.1.2.10', readyAfterReads: 2 },
      { name: 'metal1', role: 'agent', ip: '10.1.2.11', readyAfterReads: 0 },
    ],
    async (kube, standin) => {
      const events: ClusterEvent[] = []
      const left = await waitReady(kube, ['metal0', 'metal1'], {
        timeoutMs: 600_000,
        pollMs: 1,
        events: (e) => events.push(e),
      })
      assert.deepEqual([...left], [])
      // metal0 was read NotReady twice (one line: it did not change), Ready the third time
      assert.deepEqual(events.map(line), [`metal0: ${NOT_READY}`, 'metal1: Ready', 'metal0: Ready'])
      assert.equal(standin.requests().filter((r) => r.path === '/api/v1/nodes').length, 3)
    },
  )
})

test('waitReady() on the stand-in API server: at its timeout, returns the nodes not Ready with what was last seen', async () => {
  await withStandin(
    [
      { name: 'metal0', role: 'server', ip: '10.1.2.10', readyAfterReads: Number.POSITIVE_INFINITY },
      { name: 'metal1', role: 'agent', ip: '10.1.2.11', readyAfterReads: 0 },
    ],
    async (kube) => {
      const events: ClusterEvent[] = []
      const clock = fakeClock()
      const left = await waitReady(kube, ['metal0', 'metal1', 'metal2'], {
        timeoutMs: 20,
        pollMs: 5,
        events: (e) => events.push(e),
        clock,
      })
      assert.deepEqual(
        clock.slept,
        [5, 5, 5, 5],
        'read every 5 ms until the next read would pass the timeout',
      )
      assert.deepEqual(Object.fromEntries(left), {
        metal0: NOT_READY,
        metal2: 'not registered with the API yet',
      })
      assert.deepEqual(events.map(line), [
        `metal0: ${NOT_READY}`,
        'metal1: Ready',
        'metal2: not registered with the API yet',
      ])
    },
  )
})

test('waitReady() reports an API that does not answer, once per node, and returns it as what was last seen', async () => {
  const closed = createKubeClient({
    server: 'https://127.0.0.1:1',
    insecureSkipTlsVerify: true,
    contextName: 'x',
  })
  const events: ClusterEvent[] = []
  const left = await waitReady(closed, ['metal0'], {
    timeoutMs: 20,
    pollMs: 10,
    events: (e) => events.push(e),
    clock: fakeClock(),
  })
  assert.match(
    left.get('metal0') ?? '',
    /^the API did not answer: Cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1/,
  )
  assert.deepEqual(
    events.map((e) => e.type),
    ['node.waiting'],
  )
})
