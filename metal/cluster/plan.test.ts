import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Machine } from '../../core/config/schema.ts'
import { testMachine as machine } from '../../test/harness/machines.ts'
import { ClusterPlanError, chooseToken, FRESH_NODE, type NodeFacts, planCluster } from './plan.ts'
import { renderK3sConfig } from './render.ts'

const servers = [machine('a', '10.0.0.10'), machine('b', '10.0.0.11'), machine('c', '10.0.0.12')]
const agent = machine('w', '10.0.0.20', 'agent')
const VIP = '10.0.0.100'

const fresh = FRESH_NODE
const memberOf = (machineOf: Machine, membership: 'init' | string): NodeFacts => ({
  ...fresh,
  etcdMember: machineOf.role === 'server',
  agentData: true,
  active: true,
  configText: renderK3sConfig({
    machine: machineOf,
    membership: membership === 'init' ? { kind: 'init' } : { kind: 'join', server: membership },
    endpoint: VIP,
  }),
  token: 'secret-token',
})

const all = (f: (m: Machine) => NodeFacts, machines = [...servers, agent]) =>
  new Map(machines.map((m) => [m.name, f(m)]))

test('a new cluster: the first server initialises, every other node joins through the VIP', () => {
  const plan = planCluster(
    [...servers, agent],
    VIP,
    all(() => fresh),
  )
  assert.equal(plan.init, 'a')
  assert.equal(plan.endpointIsVip, true)
  assert.equal(plan.joinAddress, VIP)
  assert.deepEqual(
    plan.nodes.map((n) => [
      n.machine.name,
      n.phase,
      n.membership.kind === 'join' ? n.membership.server : 'init',
    ]),
    [
      ['a', 'init', 'init'],
      ['b', 'join', 'https://10.0.0.100:6443'],
      ['c', 'join', 'https://10.0.0.100:6443'],
      ['w', 'join', 'https://10.0.0.100:6443'],
    ],
  )
  assert.ok(
    plan.nodes.every((n) => !n.fresh),
    'nothing to forget in a new cluster',
  )
})

test('a new cluster with the endpoint on a server: that server initialises, whatever its place in the list', () => {
  const plan = planCluster(
    [...servers, agent],
    '10.0.0.12',
    all(() => fresh),
  )
  assert.equal(plan.init, 'c')
  assert.equal(plan.endpointIsVip, false)
  assert.equal(plan.joinAddress, '10.0.0.12')
})

test('rebuilding the first server makes it join: no second cluster-init', () => {
  const facts = all((m) =>
    m.name === 'a' ? fresh : memberOf(m, m.name === 'b' ? 'init' : `https://${VIP}:6443`),
  )
  const plan = planCluster([...servers, agent], VIP, facts)
  assert.equal(plan.init, undefined)
  assert.deepEqual(plan.members, ['b', 'c'])
  const a = plan.nodes.find((n) => n.machine.name === 'a')
  assert.deepEqual(a?.membership, { kind: 'join', server: `https://${VIP}:6443` })
  assert.equal(a?.fresh, true, 'its old Node object is checked before it joins')
})

test('members keep the membership lines they have on disk (a re-run renders the same config)', () => {
  const facts = all((m) => memberOf(m, m.name === 'a' ? 'init' : `https://${VIP}:6443`))
  const plan = planCluster([...servers, agent], VIP, facts)
  for (const node of plan.nodes) {
    assert.equal(node.phase, 'member', node.machine.name)
    const rendered = renderK3sConfig({ machine: node.machine, membership: node.membership, endpoint: VIP })
    assert.equal(rendered, facts.get(node.machine.name)?.configText, node.machine.name)
  }
})

test('the endpoint server rebuilt: joins go through a member, not through the empty endpoint', () => {
  const facts = all((m) => (m.name === 'a' ? fresh : memberOf(m, 'https://10.0.0.10:6443')))
  const plan = planCluster([...servers, agent], '10.0.0.10', facts)
  assert.equal(plan.init, undefined)
  assert.equal(plan.joinAddress, '10.0.0.11')
  assert.deepEqual(plan.nodes.find((n) => n.machine.name === 'a')?.membership, {
    kind: 'join',
    server: 'https://10.0.0.11:6443',
  })
})

test('no cluster is started while a server could not be checked (it may hold the cluster)', () => {
  const facts = all(() => fresh)
  facts.delete('b')
  assert.throws(
    () => planCluster([...servers, agent], VIP, facts),
    (e: Error) => {
      assert.ok(e instanceof ClusterPlanError)
      assert.match(e.message, /b could not be checked and may hold it/)
      return true
    },
  )
})

test('an unreachable agent does not block: it is left out of the plan', () => {
  const facts = all(() => fresh)
  facts.delete('w')
  const plan = planCluster([...servers, agent], VIP, facts)
  assert.deepEqual(
    plan.nodes.map((n) => n.machine.name),
    ['a', 'b', 'c'],
  )
})

test('property: whatever the servers hold, at most one initialises, and none does while a member exists', () => {
  const state = fc.constantFrom<'fresh' | 'member-init' | 'member-join' | 'unreachable'>(
    'fresh',
    'member-init',
    'member-join',
    'unreachable',
  )
  fc.assert(
    fc.property(fc.array(state, { minLength: 1, maxLength: 5 }), fc.boolean(), (states, vip) => {
      const machines = states.map((_, i) => machine(`s${i}`, `10.0.0.${10 + i}`))
      const facts = new Map<string, NodeFacts>()
      states.forEach((s, i) => {
        const m = machines[i] as Machine
        if (s === 'fresh') facts.set(m.name, fresh)
        if (s === 'member-init') facts.set(m.name, memberOf(m, 'init'))
        if (s === 'member-join') facts.set(m.name, memberOf(m, `https://${VIP}:6443`))
      })
      const endpoint = vip ? VIP : '10.0.0.10'
      let plan: ReturnType<typeof planCluster>
      try {
        plan = planCluster(machines, endpoint, facts)
      } catch (error) {
        assert.ok(error instanceof ClusterPlanError)
        assert.ok(states.includes('unreachable') && !states.some((s) => s.startsWith('member')))
        return
      }
      const inits = plan.nodes.filter(
        (n) => n.phase === 'init' || (n.phase !== 'member' && n.membership.kind === 'init'),
      )
      const hasMember = states.some((s) => s.startsWith('member'))
      assert.equal(inits.length, hasMember ? 0 : 1)
      for (const node of plan.nodes) {
        if (node.phase === 'join') {
          assert.equal(node.membership.kind, 'join')
          const target = node.membership.kind === 'join' ? node.membership.server : ''
          const address = /https:\/\/([^:]+):/.exec(target)?.[1]
          const ok =
            address === VIP || plan.members.some((m) => machines.find((x) => x.name === m)?.ip === address)
          assert.ok(ok || !hasMember, `joins through the VIP or a member: ${target}`)
        }
      }
    }),
  )
})

test('the token: stored wins, else adopted from a member, else a new one; a mismatch is refused', () => {
  const facts = all((m) => memberOf(m, 'init'))
  const plan = planCluster([...servers, agent], VIP, facts)
  assert.deepEqual(chooseToken('secret-token', plan, facts, '/s/token'), {
    token: 'secret-token',
    source: 'stored',
  })
  assert.deepEqual(chooseToken(undefined, plan, facts, '/s/token'), {
    token: 'secret-token',
    source: 'member',
    from: 'a',
  })
  const none = planCluster(
    [...servers, agent],
    VIP,
    all(() => fresh),
  )
  assert.deepEqual(
    chooseToken(
      undefined,
      none,
      all(() => fresh),
      '/s/token',
    ),
    { token: undefined, source: 'new' },
  )
  assert.throws(() => chooseToken('other', plan, facts, '/s/token'), /does not match the token on a/)
  // k3s's full form of the same secret is the same token.
  const full = all((m) => ({
    ...memberOf(m, 'init'),
    token: undefined,
    serverToken: `K10${'0123abcd'.repeat(8)}::server:secret-token`,
  }))
  assert.equal(
    chooseToken('secret-token', planCluster([...servers, agent], VIP, full), full, '/s/token').source,
    'stored',
  )
})

test('node remove refuses a machine not in the config, and the only server', async () => {
  const { checkRemoval } = await import('./remove.ts')
  const config = { machines: [servers[0], agent] } as unknown as Parameters<typeof checkRemoval>[0]
  assert.throws(() => checkRemoval(config, 'nope'), /not in homelab\.yaml's machines \(a, w\)/)
  assert.throws(() => checkRemoval(config, 'a'), /it is the only server/)
  assert.equal(checkRemoval(config, 'w').name, 'w')
})
