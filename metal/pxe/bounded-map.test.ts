import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BoundedMap } from './bounded-map.ts'

test('BoundedMap evicts its oldest entries past max, and a set key becomes the newest', () => {
  const map = new BoundedMap<string, number>(3)
  for (const [i, key] of ['a', 'b', 'c'].entries()) map.set(key, i)
  map.set('a', 9) // now the newest
  map.set('d', 3)
  assert.equal(map.size, 3)
  assert.equal(map.has('b'), false, 'the oldest went')
  assert.deepEqual([map.get('a'), map.get('c'), map.get('d')], [9, 2, 3])
  for (let i = 0; i < 100_000; i++) map.set(`spoofed-${i}`, i)
  assert.equal(map.size, 3)
  assert.throws(() => new BoundedMap(0), RangeError)
})
