import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { runOnMachines } from './limit.ts'

test('runOnMachines() never runs more than limit at once and keeps every error', async () => {
  const items = Array.from({ length: 10 }, (_, i) => `node${i}`)
  let running = 0
  let peak = 0
  const results = await runOnMachines(items, 3, async (item, index) => {
    running++
    peak = Math.max(peak, running)
    await sleep(5 + (index % 4) * 3)
    running--
    if (index % 3 === 0) throw new Error(`step failed on ${item}`)
    return item.toUpperCase()
  })
  assert.equal(peak, 3)
  assert.equal(results.length, 10)
  results.forEach((r, i) => {
    assert.equal(r.item, `node${i}`)
    if (i % 3 === 0) {
      assert.equal(r.status, 'rejected')
      assert.match(String(r.status === 'rejected' ? r.error : ''), new RegExp(`step failed on node${i}$`))
    } else {
      assert.deepEqual(r, { item: `node${i}`, status: 'fulfilled', value: `NODE${i}` })
    }
  })
})

test('runOnMachines() catches synchronous throws and handles fewer items than the limit', async () => {
  const results = await runOnMachines(['a', 'b'], 8, (item) => {
    if (item === 'a') throw new Error('sync')
    return Promise.resolve(1)
  })
  assert.equal(results[0]?.status, 'rejected')
  assert.equal(results[1]?.status, 'fulfilled')
  assert.deepEqual(await runOnMachines([], 2, async () => 1), [])
})

test('runOnMachines() refuses a limit below 1', async () => {
  await assert.rejects(
    runOnMachines(['a'], 0, async () => 1),
    RangeError,
  )
  await assert.rejects(
    runOnMachines(['a'], 1.5, async () => 1),
    RangeError,
  )
})
