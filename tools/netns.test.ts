import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sh, TestNet } from './netns.ts'

test('TestNet wires two hosts on one bridge and removes every namespace afterwards', async () => {
  const net = await TestNet.create('harn')
  try {
    const a = await net.host('a', '10.99.0.1/24')
    const b = await net.host('b', '10.99.0.2/24')
    const out = await a.run(['ping', '-c', '1', '-W', '2', b.ip])
    assert.match(out, /1 received/)
    const sleeper = b.spawn(['sleep', '60'])
    assert.ok(sleeper.pid > 0)
  } finally {
    await net.destroy()
  }
  const left = await sh('ip', ['netns', 'list'])
  assert.doesNotMatch(left, new RegExp(`hlt-${net.id}`))
})
