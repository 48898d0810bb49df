import assert from 'node:assert/strict'
import { test } from 'node:test'
import { manualClock, PollTimeoutError, poll } from './index.ts'

test('poll() resolves with the first value the check returns, waiting the interval between checks', async () => {
  const { clock, slept } = manualClock(1000)
  const attempts: number[] = []
  const value = await poll(
    ({ attempt }) => {
      attempts.push(attempt)
      return attempt === 3 ? 'ready' : undefined
    },
    { what: 'it', intervalMs: 100, timeoutMs: 10_000, clock },
  )
  assert.deepEqual([value, attempts, slept], ['ready', [1, 2, 3], [100, 100]])
})

test('poll() grows the wait with backoff, up to its maximum', async () => {
  const { clock, slept } = manualClock(1000)
  await poll(({ attempt }) => (attempt === 6 ? true : undefined), {
    what: 'it',
    intervalMs: 10,
    backoff: { factor: 2, maxMs: 50 },
    clock,
  })
  assert.deepEqual(slept, [10, 20, 40, 50, 50])
})

test('poll() times out before a wait that would end past the deadline, with what was last seen', async () => {
  const { clock, slept, now } = manualClock(1000)
  const error = await poll<string, string>(
    ({ attempt, see }) => {
      see(`reading ${attempt}`)
      return undefined
    },
    { what: 'the node', intervalMs: 20, backoff: { factor: 2, maxMs: 1000 }, timeoutMs: 200, clock },
  ).then(
    () => assert.fail('poll() resolved'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof PollTimeoutError)
  assert.deepEqual(
    [error.message, error.lastSeen, error.attempts, error.code, slept, now()],
    [
      'Timed out after 200 ms waiting for the node; last seen: reading 4',
      'reading 4',
      4,
      'POLL_TIMEOUT',
      [20, 40, 80],
      1140,
    ],
  )
})

test('poll() retries the errors `retry` accepts and reports the last one at its timeout', async () => {
  const { clock } = manualClock(1000)
  const waits: unknown[] = []
  const error = await poll(
    ({ attempt }) => {
      throw new Error(`refused ${attempt}`)
    },
    {
      what: 'SSH',
      intervalMs: 50,
      timeoutMs: 100,
      clock,
      retry: (e) => e instanceof Error && e.message.startsWith('refused'),
      onWait: (w) => waits.push([w.attempt, w.delayMs, (w.error as Error).message]),
    },
  ).then(
    () => assert.fail('poll() resolved'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof PollTimeoutError)
  assert.equal(error.message, 'Timed out after 100 ms waiting for SSH; last error: refused 3')
  assert.equal((error.lastError as Error).message, 'refused 3')
  assert.deepEqual(waits, [
    [1, 50, 'refused 1'],
    [2, 50, 'refused 2'],
  ])
})

test('poll() lets through errors `retry` does not accept, at once', async () => {
  const { clock, slept } = manualClock(1000)
  await assert.rejects(
    poll(
      () => {
        throw new TypeError('bug')
      },
      { what: 'it', intervalMs: 50, clock, retry: (e) => !(e instanceof TypeError) },
    ),
    TypeError,
  )
  assert.deepEqual(slept, [])
})

test('poll() rejects with the abort reason, before the next check', async () => {
  const controller = new AbortController()
  const { clock } = manualClock(1000)
  let checks = 0
  await assert.rejects(
    poll(
      () => {
        checks++
        if (checks === 2) controller.abort(new Error('stopped'))
        return undefined
      },
      { what: 'it', intervalMs: 10, clock, signal: controller.signal },
    ),
    /stopped/,
  )
  assert.equal(checks, 2)
})

test('poll() on the real clock: an abort ends a long wait at once', async () => {
  const controller = new AbortController()
  const polling = poll(
    ({ attempt }) => {
      if (attempt === 1) setImmediate(() => controller.abort(new Error('stopped')))
      return undefined
    },
    { what: 'it', intervalMs: 3_600_000, signal: controller.signal },
  )
  await assert.rejects(polling, /stopped/)
})
