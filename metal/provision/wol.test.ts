import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TestNet, waitFor } from '../../tools/netns.ts'
import { magicPacket } from './wol.ts'

test('magicPacket() is six 0xff bytes and the MAC sixteen times', () => {
  const p = magicPacket('52:54:00:aa:bb:cc')
  assert.equal(p.length, 102)
  assert.equal(Buffer.from(p.subarray(0, 12)).toString('hex'), 'ffffffffffff525400aabbcc')
  assert.equal(Buffer.from(p.subarray(96)).toString('hex'), '525400aabbcc')
  assert.throws(() => magicPacket('52:54:00:aa:bb'), /is not six hex pairs/)
})

const LISTEN = `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true })
s.on('message', (m, r) => console.log('GOT', r.address, m.toString('hex')))
s.bind(9, '0.0.0.0', () => console.log('READY'))
`

test('wake() sends the magic packet out of the configured interface only, on a controller with two', async () => {
  const lan = await TestNet.create('wol')
  const other = await TestNet.create('wol2')
  try {
    const ctl = await lan.host('ctl', '10.96.0.2/24')
    await other.addInterface(ctl, 'eth1', '10.95.0.2/24')
    // The other segment is the default route: a 0.0.0.0 socket's broadcast would go there.
    await ctl.run(['ip', 'route', 'add', 'default', 'via', '10.95.0.1'])
    // A powered-off machine has no address: the packet must reach it anyway.
    const a = await lan.host('a', '')
    const b = await other.host('b', '10.95.0.50/24')
    const node = process.execPath
    const la = a.spawn([node, '-e', LISTEN])
    const lb = b.spawn([node, '-e', LISTEN])
    await waitFor('listeners', () =>
      la.output().includes('READY') && lb.output().includes('READY') ? true : undefined,
    )
    const send = ctl.spawn([
      node,
      '--input-type=module',
      '-e',
      `import { wake } from '${new URL('./wol.ts', import.meta.url).href}'; await wake(['52:54:00:aa:bb:cc'], { from: '10.96.0.2', repeat: 2 })`,
    ])
    assert.equal(await send.exited, 0, send.output())
    await waitFor('the magic packet', () => (la.output().includes('GOT') ? true : undefined), 5000)
    assert.match(
      la.output(),
      new RegExp(`GOT 10\\.96\\.0\\.2 ${Buffer.from(magicPacket('52:54:00:aa:bb:cc')).toString('hex')}`),
    )
    // Then a marker, unicast from the same controller onto the other segment: the segment delivers
    // in order, so a leaked magic packet would have reached b before it. Nothing is judged by a wait.
    const marker = ctl.spawn([
      node,
      '-e',
      `const s = require('node:dgram').createSocket('udp4'); s.send(Buffer.from('marker'), 9, '10.95.0.50', () => s.close())`,
    ])
    assert.equal(await marker.exited, 0, marker.output())
    const markerHex = Buffer.from('marker').toString('hex')
    await waitFor(
      'the marker on the other segment',
      () => (lb.output().includes(markerHex) ? true : undefined),
      5000,
    )
    assert.deepEqual(
      lb
        .output()
        .split('\n')
        .filter((l) => l.startsWith('GOT')),
      [`GOT 10.95.0.2 ${markerHex}`],
      'the magic packet leaked onto the other segment',
    )
  } finally {
    await lan.destroy()
    await other.destroy()
  }
})
