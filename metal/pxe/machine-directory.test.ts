import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseCidr } from '../../lib/ipv4/index.ts'
import { addressOnInterface } from './interface.ts'
import { directoryFromConfig } from './machine-directory.ts'

const machines = [
  { name: 'metal0', mac: '52:54:00:AA:00:01', ip: '10.0.0.10', role: 'server', disk: 'vda', nic: 'eth0' },
  { name: 'metal1', mac: '52-54-00-aa-00-02', ip: '10.0.0.11', role: 'agent', disk: 'vda', nic: 'eth0' },
] as const

test('directoryFromConfig() finds machines by MAC in any spelling and by IP, and nothing else', () => {
  const dir = directoryFromConfig({ machines: machines.map((m) => ({ ...m })) })
  assert.equal(dir.byMac('52:54:00:aa:00:01')?.name, 'metal0')
  assert.equal(dir.byMac('52:54:00:AA:00:02')?.name, 'metal1')
  assert.equal(dir.byIp('10.0.0.11')?.name, 'metal1')
  assert.equal(dir.byIp('::ffff:10.0.0.10')?.name, 'metal0')
  assert.equal(dir.byMac('52:54:00:aa:00:03'), undefined)
  assert.equal(dir.byIp('10.0.0.12'), undefined)
})

test('addressOnInterface() picks the address inside the subnet and explains what is wrong otherwise', () => {
  const subnet = parseCidr('10.0.0.0/24')
  assert.ok(!('error' in subnet))
  const ifaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', cidr: '127.0.0.1/8' }],
    eth0: [
      { address: '192.168.5.2', family: 'IPv4', cidr: '192.168.5.2/24' },
      { address: '10.0.0.2', family: 'IPv4', cidr: '10.0.0.2/24' },
    ],
  } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>
  assert.equal(addressOnInterface('eth0', subnet, ifaces), '10.0.0.2')
  assert.throws(
    () => addressOnInterface('eth9', subnet, ifaces),
    /Cannot find network interface "eth9" \(present: eth0, lo\)/,
  )
  assert.throws(
    () => addressOnInterface('lo', subnet, ifaces),
    /Cannot use network interface "lo": it has no address in 10\.0\.0\.0\/24 \(it has 127\.0\.0\.1\/8\)/,
  )
})
