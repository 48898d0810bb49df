import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DnsRecord } from './cloudflare/types.ts'
import {
  decideRecord,
  needsRotation,
  sameIngress,
  samePolicies,
  tokenPolicies,
  tunnelConfig,
  tunnelRecord,
} from './desired.ts'
import { RECORD_COMMENT } from './names.ts'

test("tunnelConfig() verifies the Gateway certificate only when it is trusted (Let's Encrypt production)", () => {
  assert.deepEqual(tunnelConfig('home.example.com', true).ingress[0]?.originRequest, {
    matchSNItoHost: true,
    noTLSVerify: false,
  })
  assert.deepEqual(tunnelConfig('home.example.com', false).ingress[0]?.originRequest, {
    matchSNItoHost: true,
    noTLSVerify: true,
  })
  assert.deepEqual(tunnelConfig('home.example.com', false).ingress.at(-1), { service: 'http_status:404' })
})

test('sameIngress() ignores fields Cloudflare adds but sees a changed verification, service or order', () => {
  const wanted = tunnelConfig('d.example', false)
  const echoed = structuredClone(wanted)
  ;(echoed.ingress[0]?.originRequest as Record<string, unknown>).connectTimeout = 30
  assert.equal(sameIngress(echoed, wanted), true)
  assert.equal(sameIngress(tunnelConfig('d.example', true), wanted), false)
  assert.equal(sameIngress({ ingress: [...wanted.ingress].reverse() }, wanted), false)
  assert.equal(sameIngress(undefined, wanted), false)
})

const record = (over: Partial<DnsRecord>): DnsRecord =>
  ({ ...tunnelRecord('d.example', 'abc'), id: 'r1', ...over }) as DnsRecord

test('decideRecord(): creates when absent, keeps or updates ours, never touches a record without our comment', () => {
  const wanted = tunnelRecord('d.example', 'abc')
  assert.deepEqual(decideRecord([], wanted), { action: 'create' })
  assert.deepEqual(decideRecord([record({})], wanted), { action: 'keep', id: 'r1' })
  assert.deepEqual(decideRecord([record({ content: 'old.cfargotunnel.com' })], wanted), {
    action: 'update',
    id: 'r1',
  })
  const foreign = decideRecord([record({ comment: null, type: 'A', content: '203.0.113.1' })], wanted)
  assert.equal(foreign.action, 'conflict')
  assert.equal(wanted.comment, RECORD_COMMENT)
})

test('needsRotation() is true within 30 days of expiry or once expired, false for a token without expiry', () => {
  const now = new Date('2026-12-02T00:00:00Z')
  assert.equal(needsRotation({ id: 'a', name: 'a', expires_on: '2026-12-31T23:59:59Z' }, now), true)
  assert.equal(needsRotation({ id: 'a', name: 'a', expires_on: '2027-01-02T00:00:00Z' }, now), false)
  assert.equal(
    needsRotation({ id: 'a', name: 'a', status: 'expired', expires_on: '2030-01-01T00:00:00Z' }, now),
    true,
  )
  assert.equal(needsRotation({ id: 'a', name: 'a' }, now), false)
})

test('tokenPolicies() names the permission groups by id on the zone only, and refuses a missing group', () => {
  const groups = [
    { id: 'g-dns', name: 'DNS Write' },
    { id: 'g-zone', name: 'Zone Read' },
  ]
  const policies = tokenPolicies(groups, 'z1')
  assert.deepEqual(policies, [
    {
      effect: 'allow',
      permission_groups: [{ id: 'g-dns' }, { id: 'g-zone' }],
      resources: { 'com.cloudflare.api.account.zone.z1': '*' },
    },
  ])
  assert.equal(
    samePolicies(
      [
        {
          ...policies[0],
          id: 'p',
          permission_groups: [{ id: 'g-zone', name: 'Zone Read' }, { id: 'g-dns' }],
        } as never,
      ],
      policies,
    ),
    true,
  )
  assert.equal(samePolicies(tokenPolicies(groups, 'z2'), policies), false)
  assert.throws(() => tokenPolicies([groups[0] as never], 'z1'), /lists no permission group "Zone Read"/)
})
