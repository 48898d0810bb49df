import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Machine } from '../../core/config/schema.ts'
import { testMachine as machine } from '../../test/harness/machines.ts'
import { kubeconfigSource, notReadyMessage } from './cluster.ts'
import { serviceActions } from './node.ts'
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
