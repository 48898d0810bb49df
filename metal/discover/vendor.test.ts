import assert from 'node:assert/strict'
import { test } from 'node:test'
import { vendorOf } from './vendor.ts'

test('vendorOf() names the IEEE registrant (MA-L), in any MAC notation', () => {
  assert.equal(vendorOf('00:1a:11:00:00:01'), 'Google, Inc.')
  assert.equal(vendorOf('00-1A-11-AB-CD-EF'), 'Google, Inc.')
})

test('vendorOf() prefers the longest prefix: MA-M (7 hex digits) and MA-S (9) inside an IEEE MA-L block', () => {
  assert.equal(vendorOf('10:06:48:00:00:01'), 'FLEXTRONICS TECHNOLOGIES (INDIA) PVT LTD')
  assert.equal(vendorOf('00:1b:c5:00:00:01'), 'Converging Systems Inc.')
})

test('vendorOf() says "locally administered" for MACs no registry holds (VMs, randomised)', () => {
  assert.equal(vendorOf('52:54:00:12:34:56'), 'locally administered')
  assert.equal(vendorOf('02:00:00:00:00:10'), 'locally administered')
})

test('vendorOf() is undefined for a prefix nobody registered and for text that is not a MAC', () => {
  assert.equal(vendorOf('fc:ff:ff:00:00:01'), undefined)
  assert.equal(vendorOf('not a mac'), undefined)
})
