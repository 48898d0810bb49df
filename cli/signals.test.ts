import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { StopError, type StopSignal, stopOnSignals } from './signals.ts'

function setup() {
  const source = new EventEmitter()
  const told: StopSignal[] = []
  const forced: StopSignal[] = []
  const stop = stopOnSignals({ source, onStop: (s) => told.push(s), force: (s) => forced.push(s) })
  return { source, told, forced, stop }
}

test('stopOnSignals() aborts on the first signal and forces on the second', () => {
  const { source, told, forced, stop } = setup()
  assert.equal(stop.signal.aborted, false)
  source.emit('SIGTERM', 'SIGTERM')
  assert.equal(stop.signal.aborted, true)
  assert.ok(stop.signal.reason instanceof StopError)
  assert.equal((stop.signal.reason as StopError).signal, 'SIGTERM')
  assert.equal(stop.stoppedBy(), 'SIGTERM')
  assert.deepEqual(told, ['SIGTERM'])
  assert.deepEqual(forced, [])
  source.emit('SIGINT', 'SIGINT')
  assert.deepEqual(forced, ['SIGINT'])
  assert.deepEqual(told, ['SIGTERM'])
  assert.equal(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM'), 0)
})

test('stopOnSignals() dispose() removes its listeners', () => {
  const { source, stop } = setup()
  assert.equal(source.listenerCount('SIGINT'), 1)
  assert.equal(source.listenerCount('SIGTERM'), 1)
  stop.dispose()
  assert.equal(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM'), 0)
  assert.equal(stop.stoppedBy(), undefined)
})
