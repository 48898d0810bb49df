/** LeaseTable: the dynamic range of full mode, driven by an injected clock. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatIPv4, parseIPv4 } from '../../lib/ipv4/index.ts'
import { LeaseTable } from './dhcp-leases.ts'

const ip = (s: string) => parseIPv4(s) as number
const A = '02:00:00:00:00:0a'
const B = '02:00:00:00:00:0b'
const C = '02:00:00:00:00:0c'

function table(reserved: string[] = [], end = '10.0.0.12') {
  let time = 1_000_000
  const leases = new LeaseTable({
    range: { start: ip('10.0.0.10'), end: ip(end) },
    leaseSeconds: 600,
    offerHoldSeconds: 60,
    isReserved: (a) => reserved.includes(formatIPv4(a)),
    now: () => time,
  })
  const at = (mac: string, preferred?: string) => {
    const lease = leases.allocate(mac, preferred === undefined ? undefined : ip(preferred))
    return lease === undefined ? undefined : formatIPv4(lease.ip)
  }
  return { leases, at, advance: (seconds: number) => (time += seconds * 1000) }
}

test('LeaseTable.allocate() hands out the lowest free address, skips reserved ones, and sticks to a MAC', () => {
  const { at } = table(['10.0.0.10'])
  assert.equal(at(A), '10.0.0.11')
  assert.equal(at(B), '10.0.0.12')
  assert.equal(at(A), '10.0.0.11')
  assert.equal(at(C), undefined, 'the range is full')
})

test('LeaseTable.allocate() gives the preferred address when it is in the range and free', () => {
  const { at } = table()
  assert.equal(at(A, '10.0.0.12'), '10.0.0.12')
  assert.equal(at(B, '10.0.0.12'), '10.0.0.10', 'taken: the lowest free one instead')
  assert.equal(at(C, '10.0.0.99'), '10.0.0.11', 'outside the range: the lowest free one')
})

test('LeaseTable offers expire after offerHoldSeconds; bound leases after leaseSeconds', () => {
  const { leases, at, advance } = table([], '10.0.0.10')
  assert.equal(at(A), '10.0.0.10')
  advance(59)
  assert.equal(at(B), undefined, 'still held for A')
  advance(1)
  assert.equal(at(B), '10.0.0.10', 'the offer expired')
  assert.equal(leases.get(A), undefined, 'A lost it to B')
  leases.bind(B)
  assert.deepEqual(leases.get(B), { ip: ip('10.0.0.10'), expires: 1_060_000 + 600_000, bound: true })
  advance(599)
  assert.equal(at(A), undefined, 'bound for B')
  advance(1)
  assert.equal(at(A), '10.0.0.10', 'the lease expired')
})

test('LeaseTable.bind() renews: the lease lasts leaseSeconds from the last bind', () => {
  const { leases, at, advance } = table([], '10.0.0.10')
  at(A)
  leases.bind(A)
  advance(500)
  leases.bind(A)
  advance(500)
  assert.equal(at(B), undefined, 'renewed at 500 s, so held until 1100 s')
  assert.equal(leases.get(A)?.bound, true)
})

test('LeaseTable.allocate() keeps an expired lease for its MAC while nobody took the address', () => {
  const { leases, at, advance } = table()
  at(A, '10.0.0.11')
  leases.bind(A)
  advance(10_000)
  assert.equal(at(A), '10.0.0.11')
})

test('LeaseTable.release() frees an address; releaseOffer() frees only an unbound one', () => {
  const { leases, at } = table([], '10.0.0.11')
  at(A)
  at(B)
  leases.releaseOffer(A)
  assert.equal(leases.get(A), undefined)
  leases.bind(B)
  leases.releaseOffer(B)
  assert.equal(leases.get(B)?.bound, true, 'bound: kept')
  leases.release(B)
  assert.equal(leases.get(B), undefined)
  assert.equal(at(C), '10.0.0.10')
  assert.equal(at(A), '10.0.0.11', 'both freed')
})

test('LeaseTable.decline() keeps an address out of offers for leaseSeconds', () => {
  const { leases, at, advance } = table([], '10.0.0.11')
  leases.decline(ip('10.0.0.10'))
  assert.equal(at(A), '10.0.0.11')
  assert.equal(at(B), undefined)
  advance(600)
  assert.equal(at(B), '10.0.0.10')
})

test('LeaseTable.allocate() moves a MAC whose expired address another took to a new one', () => {
  const { leases, at, advance } = table([], '10.0.0.11')
  at(A, '10.0.0.10')
  advance(60)
  assert.equal(at(B, '10.0.0.10'), '10.0.0.10')
  assert.equal(at(A), '10.0.0.11')
  leases.release(A)
  assert.equal(at(C), '10.0.0.11', 'the old mapping was dropped with the move')
})
