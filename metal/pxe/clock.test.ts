import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ManualClock, systemClock } from './clock.ts'

test('ManualClock fires timers only when advanced, in due order, at their due time', () => {
  const clock = new ManualClock(0)
  const fired: string[] = []
  clock.setTimer(() => fired.push(`b@${clock.now()}`), 200)
  clock.setTimer(() => fired.push(`a@${clock.now()}`), 100)
  clock.setTimer(() => fired.push(`c@${clock.now()}`), 200)
  assert.deepEqual(clock.pending(), [100, 200, 200])
  clock.advance(99)
  assert.deepEqual(fired, [])
  clock.advance(1)
  assert.deepEqual(fired, ['a@100'])
  clock.advance(1000)
  assert.deepEqual(fired, ['a@100', 'b@200', 'c@200'], 'ties fire in the order they were set')
  assert.equal(clock.now(), 1100)
  assert.deepEqual(clock.pending(), [])
})

test('ManualClock runs timers set by a firing timer within the same advance()', () => {
  const clock = new ManualClock(0)
  const fired: number[] = []
  const again = (): void => {
    fired.push(clock.now())
    if (fired.length < 3) clock.setTimer(again, 50)
  }
  clock.setTimer(again, 50)
  clock.advance(120)
  assert.deepEqual(fired, [50, 100])
  clock.advance(30)
  assert.deepEqual(fired, [50, 100, 150])
})

test('ManualClock timers restart from now on refresh(), also after firing, and never fire once cancelled', () => {
  const clock = new ManualClock(0)
  let count = 0
  const timer = clock.setTimer(() => count++, 100)
  clock.advance(60)
  timer.refresh()
  assert.deepEqual(clock.pending(), [100])
  clock.advance(99)
  assert.equal(count, 0)
  clock.advance(1)
  assert.equal(count, 1)
  timer.refresh() // after firing: armed again
  clock.advance(100)
  assert.equal(count, 2)
  timer.cancel()
  timer.refresh() // does nothing once cancelled
  clock.advance(1000)
  assert.equal(count, 2)
  assert.deepEqual(clock.pending(), [])
})

test('systemClock fires a timer once, and a cancelled one never', async () => {
  const cancelled = systemClock.setTimer(() => assert.fail('a cancelled timer fired'), 1)
  cancelled.cancel()
  cancelled.refresh()
  const before = systemClock.now()
  await new Promise<void>((resolve) => systemClock.setTimer(resolve, 1))
  assert.ok(systemClock.now() >= before)
})
