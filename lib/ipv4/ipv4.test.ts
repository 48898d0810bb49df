import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  defaultLoadBalancerPool,
  formatIPv4,
  formatRange,
  isHostAddress,
  macFromBytes,
  macToBytes,
  parseCidr,
  parseIPv4,
  parseMac,
  parseRange,
} from './ipv4.ts'

test('parseIPv4() accepts dotted decimal and rejects octal-looking, short and out-of-range forms', () => {
  const cases: Array<[string, number | undefined]> = [
    ['0.0.0.0', 0],
    ['192.168.1.10', 0xc0a8010a],
    ['255.255.255.255', 0xffffffff],
    ['010.0.0.1', undefined],
    ['10.0.0.01', undefined],
    ['256.0.0.1', undefined],
    ['10.0.0', undefined],
    ['10.0.0.1.2', undefined],
    ['10.0.0.-1', undefined],
    [' 10.0.0.1', undefined],
    ['0x0a.0.0.1', undefined],
    ['', undefined],
  ]
  for (const [input, expected] of cases) assert.equal(parseIPv4(input), expected, input)
})

test('formatIPv4() and parseIPv4() round-trip every address', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (ip) => {
      assert.equal(parseIPv4(formatIPv4(ip)), ip)
    }),
  )
})

test('parseCidr() refuses host bits and names the network the user meant', () => {
  assert.deepEqual(parseCidr('10.77.0.0/24'), { network: 0x0a4d0000, prefix: 24 })
  assert.deepEqual(parseCidr('10.77.0.1/24'), { error: 'has host bits set (did you mean 10.77.0.0/24?)' })
  assert.deepEqual(parseCidr('10.77.0.0/33'), { error: 'has an invalid prefix length' })
  assert.deepEqual(parseCidr('10.77.0.0'), { error: 'has no prefix length' })
  assert.deepEqual(parseCidr('0.0.0.0/0'), { network: 0, prefix: 0 })
})

test('defaultLoadBalancerPool() is the last /27 less its broadcast, and absent for a /27 or smaller', () => {
  const pool = (cidr: string) => {
    const subnet = parseCidr(cidr)
    assert.ok(!('error' in subnet))
    const range = defaultLoadBalancerPool(subnet)
    return range === undefined ? undefined : formatRange(range)
  }
  assert.equal(pool('192.168.1.0/24'), '192.168.1.224-192.168.1.254')
  assert.equal(pool('10.0.0.0/16'), '10.0.255.224-10.0.255.254')
  assert.equal(pool('192.168.1.64/26'), '192.168.1.96-192.168.1.126')
  assert.equal(pool('192.168.1.96/27'), undefined)
})

test('parseRange() reads first-last and CIDR blocks and refuses reversed ranges', () => {
  assert.equal(formatRange(parseRange('10.0.0.5-10.0.0.9') as never), '10.0.0.5-10.0.0.9')
  assert.equal(formatRange(parseRange('10.0.0.32/30') as never), '10.0.0.32-10.0.0.35')
  assert.deepEqual(parseRange('10.0.0.9-10.0.0.5'), { error: 'ends before it starts' })
  assert.deepEqual(parseRange('10.0.0.9'), { error: 'is neither a range "first-last" nor a CIDR block' })
})

test('isHostAddress() excludes the network and broadcast addresses', () => {
  const subnet = parseCidr('10.0.0.0/24')
  assert.ok(!('error' in subnet))
  assert.equal(isHostAddress(subnet, 0x0a000000), false)
  assert.equal(isHostAddress(subnet, 0x0a000001), true)
  assert.equal(isHostAddress(subnet, 0x0a0000ff), false)
  assert.equal(isHostAddress(subnet, 0x0a000100), false)
})

test('parseMac() normalises case and dashes; macToBytes() and macFromBytes() round-trip', () => {
  assert.equal(parseMac('00-23-24-D1-F5-69'), '00:23:24:d1:f5:69')
  assert.equal(parseMac('00:23:24:d1:f5'), undefined)
  assert.equal(parseMac('00:23:24:d1:f5:6g'), undefined)
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (bytes) => {
      assert.deepEqual(macToBytes(macFromBytes(bytes)), bytes)
    }),
  )
})
