import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { spawnDnsmasq, TestNet, waitFor } from '../../tools/netns.ts'
import type { DoctorCheck } from './doctor.ts'

const root = join(import.meta.dirname, '../..')

function config(mode: 'proxy' | 'full'): string {
  return `network:
  interface: eth0
  subnet: 10.94.0.0/24
  gateway: 10.94.0.1
  controller: 10.94.0.2
  dhcp:
    mode: ${mode}
machines:
  - { name: metal0, mac: "52:54:00:94:00:10", ip: 10.94.0.10, role: server, disk: vda, nic: eth0 }
  - { name: metal1, mac: "52:54:00:94:00:11", ip: 10.94.0.11, role: server, disk: vda, nic: eth0 }
  - { name: metal2, mac: "52:54:00:94:00:12", ip: 10.94.0.12, role: server, disk: vda, nic: eth0 }
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: 10.94.0.10 }
os: { release: 43, iso: test-os, timezone: UTC, sshPublicKey: key.pub }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`
}

const HOLD_69 = `require('node:dgram').createSocket('udp4').bind(69, '10.94.0.2', () => console.log('HOLDING'))`

test('homelab doctor finds a held port, the router DHCP server, and a machine address taken by another host', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'doctor-'))
  const net = await TestNet.create('doc')
  try {
    await writeFile(join(dir, 'proxy.yaml'), config('proxy'))
    await writeFile(join(dir, 'full.yaml'), config('full'))
    const router = await net.host('router', '10.94.0.1/24')
    const ctl = await net.host('ctl', '10.94.0.2/24')
    await net.host('intruder', '10.94.0.10/24', { mac: '02:00:00:00:00:99' })
    const dnsmasq = spawnDnsmasq(router, {
      range: '10.94.0.100,10.94.0.150,1h',
      leaseFile: join(dir, 'leases'),
      ping: true,
      extra: ['--log-dhcp'],
    })
    const holder = ctl.spawn([process.execPath, '-e', HOLD_69])
    await waitFor('the port holder', () => (holder.output().includes('HOLDING') ? true : undefined))
    await waitFor('dnsmasq', () => (/started|DHCP, IP range/.test(dnsmasq.output()) ? true : undefined), 5000)

    const run = async (file: string) => {
      const p = ctl.spawn([join(root, 'bin/homelab'), 'doctor', '--json', '--config', join(dir, file)])
      const code = await p.exited
      const checks = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{"type":"doctor.check"'))
        .map((l) => JSON.parse(l) as DoctorCheck)
      return { code, checks, byName: new Map(checks.map((c) => [c.check, c])), output: p.output() }
    }

    const proxy = await run('proxy.yaml')
    assert.equal(proxy.code, 1, proxy.output)
    assert.equal(proxy.byName.get('interface')?.status, 'ok')
    assert.equal(proxy.byName.get('privileges')?.status, 'ok')
    assert.equal(proxy.byName.get('port 67/udp')?.status, 'ok')
    const tftp = proxy.byName.get('port 69/udp')
    assert.equal(tftp?.status, 'fail')
    assert.match(
      tftp?.detail ?? '',
      /TFTP port 69\/udp on 10\.94\.0\.2 is not free \(EADDRINUSE, held by node \(pid \d+\)\)/,
    )
    assert.equal(
      proxy.byName.get('dhcp servers')?.status,
      'ok',
      JSON.stringify(proxy.byName.get('dhcp servers')),
    )
    assert.match(proxy.byName.get('dhcp servers')?.detail ?? '', /10\.94\.0\.1 \(offered 10\.94\.0\.1\d\d\)/)
    const taken = proxy.byName.get('address metal0')
    assert.equal(taken?.status, 'fail')
    assert.equal(
      taken?.detail,
      '10.94.0.10 is answered by 02:00:00:00:00:99, which is not metal0 (52:54:00:94:00:10)',
    )
    assert.match(taken?.fix ?? '', /machines\[0\]\.ip/)
    assert.equal(proxy.byName.get('address metal1')?.status, 'ok')
    assert.ok(proxy.byName.has('iso'), 'the ISO is checked')

    await holder.kill()
    const full = await run('full.yaml')
    assert.equal(full.code, 1)
    assert.equal(full.byName.get('port 69/udp')?.status, 'ok')
    const dhcp = full.byName.get('dhcp servers')
    assert.equal(dhcp?.status, 'fail')
    assert.match(dhcp?.fix ?? '', /network\.dhcp\.mode: proxy/)
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
})
