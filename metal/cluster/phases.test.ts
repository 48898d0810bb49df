import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Machine } from '../../core/config/schema.ts'
import { testMachine as machine } from '../../test/harness/machines.ts'
import { kubeconfigSource, notReadyMessage, writeKubeconfig } from './cluster.ts'
import { serviceActions } from './node.ts'
import { nodeTokens } from './phases.ts'
import { FRESH_NODE, type NodeFacts, planCluster } from './plan.ts'

const machines = [machine('a', '10.0.0.10'), machine('w', '10.0.0.20', 'agent'), machine('b', '10.0.0.11')]
const roleOf = (n: string) => machines.find((m) => m.name === n)?.role

test('kubeconfigSource(): the initialising server, else the next server that did not fail; never an agent', () => {
  const plan = planCluster(
    machines,
    '10.0.0.100',
    new Map<string, NodeFacts>(machines.map((m) => [m.name, FRESH_NODE])),
  )
  assert.equal(
    kubeconfigSource(plan, () => true, roleOf),
    'a',
  )
  assert.equal(
    kubeconfigSource(plan, (n) => n !== 'a', roleOf),
    'b',
  )
  assert.equal(
    kubeconfigSource(plan, (n) => n === 'w', roleOf),
    undefined,
  )
})

test('notReadyMessage(): the wait in seconds, what was last seen, and the unit to look at per role', () => {
  assert.equal(
    notReadyMessage(machines[1] as Machine, 600_000, 'NotReady: KubeletNotReady'),
    'not Ready after 600 s; last seen: NotReady: KubeletNotReady; check on w: journalctl -u k3s-agent -e',
  )
  assert.match(notReadyMessage(machines[0] as Machine, 1500, 'x'), /after 2 s; .*journalctl -u k3s -e$/)
})

test('serviceActions(): enable when disabled, start when inactive, restart a running unit only when its inputs changed', () => {
  assert.deepEqual(
    [
      serviceActions(true, true, false),
      serviceActions(true, true, true),
      serviceActions(false, false, true),
      serviceActions(true, false, false),
      serviceActions(false, true, true),
    ],
    [[], ['restart'], ['enable', 'start'], ['start'], ['enable', 'restart']],
  )
})

test('writeKubeconfig(): unchanged content left as it is, but a 0644 file is made 0600 again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'))
  try {
    const path = join(dir, 'kubeconfig')
    assert.equal(await writeKubeconfig(path, 'apiVersion: v1\n'), true)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    await chmod(path, 0o644)
    assert.equal(await writeKubeconfig(path, 'apiVersion: v1\n'), false, 'the content is unchanged')
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'the mode is repaired on every run')
    assert.equal(await readFile(path, 'utf8'), 'apiVersion: v1\n')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('nodeTokens(): the first server the bare secret; joiners the full tokens with the CA hash; agents never the server token; a node already holding its token keeps it', () => {
  const hash = 'c'.repeat(64)
  const tokens = { token: 'serversecret', agentToken: 'agentsecret' }
  const plan = planCluster(machines, '10.0.0.100', new Map(machines.map((m) => [m.name, FRESH_NODE])))
  const of = (name: string) => plan.nodes.find((n) => n.machine.name === name) as (typeof plan.nodes)[number]
  assert.deepEqual(nodeTokens(of('a'), FRESH_NODE, tokens, undefined), {
    token: 'serversecret',
    agentToken: 'agentsecret',
  })
  assert.deepEqual(nodeTokens(of('b'), FRESH_NODE, tokens, hash), {
    token: `K10${hash}::server:serversecret`,
    agentToken: 'agentsecret',
  })
  assert.deepEqual(nodeTokens(of('w'), FRESH_NODE, tokens, hash), { token: `K10${hash}::node:agentsecret` })
  // An agent that joined with the server token before agent tokens existed gets the agent token.
  assert.deepEqual(nodeTokens(of('w'), { ...FRESH_NODE, token: 'serversecret' }, tokens, hash), {
    token: `K10${hash}::node:agentsecret`,
  })
  const held = `K10${hash}::server:serversecret`
  assert.equal(nodeTokens(of('b'), { ...FRESH_NODE, token: held }, tokens, hash).token, held)
})
