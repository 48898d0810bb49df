import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeStatus } from '../../lib/kube/index.ts'
import { quorumAllowsRemoval } from './remove.ts'

const server = (name: string, ready = true): NodeStatus => ({
  name,
  ready,
  roles: ['control-plane', 'etcd', 'master'],
  unschedulable: false,
})

test('quorumAllowsRemoval(): one of two servers is refused, naming the rule and the fix', () => {
  assert.equal(
    quorumAllowsRemoval([server('a'), server('b')], 'b'),
    'Cannot remove b: etcd needs a majority of its 2 members (2) to commit the removal without b, and only 1 other server is Ready; add a server first (homelab.yaml, then homelab cluster), then remove b',
  )
})

test('quorumAllowsRemoval(): one of three with both others Ready is allowed; with one of them NotReady it is refused', () => {
  assert.equal(quorumAllowsRemoval([server('a'), server('b'), server('c')], 'c'), undefined)
  assert.match(
    quorumAllowsRemoval([server('a'), server('b', false), server('c')], 'c') ?? '',
    /majority of its 3 members \(2\) .* only 1 other server is Ready \(not Ready: b\);.*or bring the others back/,
  )
  // Four servers: 3 of 4 needed, the three others Ready suffice.
  assert.equal(quorumAllowsRemoval([server('a'), server('b'), server('c'), server('d')], 'a'), undefined)
  assert.ok(quorumAllowsRemoval([server('a'), server('b'), server('c', false), server('d')], 'a'))
})
