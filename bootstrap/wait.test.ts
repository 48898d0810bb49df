import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { KubeObject } from '../lib/kube/index.ts'
import { manualClock } from '../lib/poll/index.ts'
import { applyResult, tally, workloadsOf } from './bootstrap.ts'
import { type Pending, PollTimeoutError, waitAll, waitError } from './wait.ts'

test('waitAll() checks only the names still pending, reports each round that leaves some, and resolves when none is', async () => {
  const { clock, slept } = manualClock()
  const checked: string[] = []
  const rounds: Pending[][] = []
  const readyAt: Record<string, number> = { a: 1, b: 3 }
  const calls: Record<string, number> = { a: 0, b: 0 }
  await waitAll(
    ['a', 'b'],
    async (name) => {
      checked.push(name)
      calls[name] = (calls[name] ?? 0) + 1
      return (calls[name] ?? 0) >= (readyAt[name] ?? 0) ? undefined : `round ${calls[name]}`
    },
    { timeoutMs: 10_000, pollMs: 100, clock, onPending: (p) => rounds.push(p) },
  )
  assert.deepEqual(checked, ['a', 'b', 'b', 'b'])
  assert.deepEqual(rounds, [[{ name: 'b', lastSeen: 'round 1' }], [{ name: 'b', lastSeen: 'round 2' }]])
  assert.deepEqual(slept, [100, 100])
})

test('waitAll() at its timeout rejects with what each pending name last showed; waitError() names them', async () => {
  const { clock } = manualClock()
  const error = await waitAll(['crd-a'], async () => 'Established=False', {
    timeoutMs: 250,
    pollMs: 100,
    clock,
    onPending: () => {},
  }).then(
    () => assert.fail('waitAll() resolved'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof PollTimeoutError)
  assert.deepEqual(error.lastSeen, [{ name: 'crd-a', lastSeen: 'Established=False' }])
  assert.match(
    waitError('established', 600_000, error.lastSeen as Pending[]).message,
    /^Cannot install ArgoCD: after 600 s, these CRDs are not Established: crd-a \(Established=False\): check the API server/,
  )
})

test('workloadsOf(), applyResult() and tally(): the workloads waited for, and what an apply did', () => {
  const o = (kind: string, apiVersion = 'apps/v1'): KubeObject => ({
    apiVersion,
    kind,
    metadata: { name: kind },
  })
  assert.deepEqual(
    workloadsOf([
      o('Deployment'),
      o('StatefulSet'),
      o('DaemonSet'),
      o('Deployment', 'extensions/v1beta1'),
    ]).map((x) => x.kind),
    ['Deployment', 'StatefulSet'],
  )
  const rv = (v: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'X',
    metadata: { name: 'x', resourceVersion: v },
  })
  assert.deepEqual(
    [applyResult(undefined, rv('1')), applyResult(rv('1'), rv('1')), applyResult(rv('1'), rv('2'))],
    ['created', 'unchanged', 'changed'],
  )
  const results = [
    { kind: 'A', name: 'a', result: 'created' as const },
    { kind: 'B', name: 'b', result: 'unchanged' as const },
    { kind: 'C', name: 'c', result: 'changed' as const },
  ]
  assert.equal(tally(results, 1), '0 created, 1 changed, 1 unchanged')
})
