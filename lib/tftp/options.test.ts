import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { negotiateOptions, parseOptionInteger } from './options.ts'

const limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000 }
const req = (...pairs: [string, string][]): Map<string, string> => new Map(pairs)

test('negotiateOptions() sends no OACK when the client asks no option', () => {
  assert.deepEqual(negotiateOptions(req(), limits, 100), {
    blksize: 512,
    windowsize: 1,
    timeoutMs: 1000,
    oack: undefined,
    ignored: [],
  })
})

test('negotiateOptions() accepts blksize, tsize, timeout and windowsize in request order', () => {
  const n = negotiateOptions(
    req(['tsize', '0'], ['blksize', '1468'], ['timeout', '3'], ['windowsize', '4']),
    limits,
    123456,
  )
  assert.equal(n.blksize, 1468)
  assert.equal(n.windowsize, 4)
  assert.equal(n.timeoutMs, 3000)
  assert.deepEqual(
    [...(n.oack ?? [])],
    [
      ['tsize', '123456'],
      ['blksize', '1468'],
      ['timeout', '3'],
      ['windowsize', '4'],
    ],
  )
})

test('negotiateOptions() answers the real size to tsize whatever the client sent', () => {
  assert.deepEqual([...(negotiateOptions(req(['tsize', '999']), limits, 42).oack ?? [])], [['tsize', '42']])
})

test('negotiateOptions() lowers blksize and windowsize to the limits (RFC 2348, RFC 7440)', () => {
  const n = negotiateOptions(
    req(['blksize', '65464'], ['windowsize', '65535']),
    { ...limits, maxBlksize: 1468 },
    0,
  )
  assert.equal(n.blksize, 1468)
  assert.equal(n.windowsize, 64)
  assert.deepEqual(
    [...(n.oack ?? [])],
    [
      ['blksize', '1468'],
      ['windowsize', '64'],
    ],
  )
  // Above the RFC maximum is lowered to it, not refused.
  assert.equal(negotiateOptions(req(['blksize', '70000']), limits, 0).blksize, 65464)
})

test('negotiateOptions() bounds the window in bytes when asked, whatever the option order', () => {
  const n = negotiateOptions(
    req(['windowsize', '64'], ['blksize', '65464']),
    { ...limits, maxWindowBytes: 1024 * 1024 },
    0,
  )
  assert.equal(n.windowsize, 16)
  assert.deepEqual(
    [...(n.oack ?? [])],
    [
      ['windowsize', '16'],
      ['blksize', '65464'],
    ],
  )
  // Never below 1 block.
  assert.equal(
    negotiateOptions(req(['windowsize', '8']), { ...limits, maxWindowBytes: 100 }, 0).windowsize,
    1,
  )
})

test('negotiateOptions() accepts the range edges: blksize 8, timeout 1 and 255, windowsize 1', () => {
  assert.equal(negotiateOptions(req(['blksize', '8']), limits, 0).blksize, 8)
  assert.equal(negotiateOptions(req(['timeout', '1']), limits, 0).timeoutMs, 1000)
  assert.equal(negotiateOptions(req(['timeout', '255']), limits, 0).timeoutMs, 255000)
  assert.equal(negotiateOptions(req(['windowsize', '1']), limits, 0).windowsize, 1)
})

test('negotiateOptions() ignores invalid values and unknown options, and reports the invalid ones', () => {
  const n = negotiateOptions(
    req(
      ['blksize', '7'],
      ['timeout', '0'],
      ['windowsize', '0'],
      ['tsize', '-1'],
      ['multicast', ''],
      ['rollover', '0'],
    ),
    limits,
    10,
  )
  assert.equal(n.oack, undefined)
  assert.equal(n.blksize, 512)
  assert.equal(n.windowsize, 1)
  assert.equal(n.timeoutMs, 1000)
  assert.deepEqual(
    n.ignored.map((i) => i.name),
    ['blksize', 'timeout', 'windowsize', 'tsize'],
  )
  assert.equal(negotiateOptions(req(['timeout', '256']), limits, 0).oack, undefined)
  assert.equal(negotiateOptions(req(['windowsize', '65536']), limits, 0).oack, undefined)
  assert.equal(negotiateOptions(req(['blksize', '0x200']), limits, 0).oack, undefined)
})

test('parseOptionInteger() reads plain decimal digits only', () => {
  assert.equal(parseOptionInteger('0'), 0)
  assert.equal(parseOptionInteger('01468'), 1468)
  for (const bad of ['', ' 1', '1 ', '+1', '-1', '1e3', '0x10', '1.5', '12345678901']) {
    assert.equal(parseOptionInteger(bad), undefined, bad)
  }
})

test('negotiateOptions() always yields parameters inside the RFC ranges and the limits', () => {
  const value = fc.oneof(fc.nat({ max: 200000 }).map(String), fc.string())
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom('blksize', 'tsize', 'timeout', 'windowsize', 'other'), value),
      fc.integer({ min: 512, max: 65464 }),
      fc.integer({ min: 1, max: 65535 }),
      (dict, maxBlksize, maxWindowsize) => {
        const n = negotiateOptions(new Map(Object.entries(dict)), { ...limits, maxBlksize, maxWindowsize }, 5)
        assert.ok(n.blksize >= 8 && n.blksize <= maxBlksize)
        assert.ok(n.windowsize >= 1 && n.windowsize <= maxWindowsize)
        assert.ok(n.timeoutMs >= 1000 && n.timeoutMs <= 255000)
        assert.ok(!n.oack?.has('other'))
      },
    ),
  )
})
