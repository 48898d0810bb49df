import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseConfig } from '../../core/config/load.ts'
import type { Machine } from '../../core/config/schema.ts'
import {
  GRUB_CONFIG_PATHS,
  GRUB_CONFIGS,
  renderBootConfigs,
  renderGrubConfigs,
  renderIpxeScript,
} from './bootloader.ts'
import { diskSpec, kickstartPath, renderKickstart } from './kickstart.ts'

const fixture = join(import.meta.dirname, '../../core/config/fixtures/valid/real-proxy.yaml')
const loaded = parseConfig(readFileSync(fixture, 'utf8'), 'real-proxy.yaml')
assert.ok(loaded.ok)
const { config, derived } = loaded.value
const key =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv1Xn6JzvN5kV0kQ5w7b8Xj0G7Yc6qQeYp1rj1m7Zs9 admin@controller'
const ctx = { config, derived, server: '192.168.1.2', sshPublicKey: key }

test('renderKickstart() writes the static network, disk, key and reports of one machine', () => {
  const machine = config.machines[2]
  assert.ok(machine)
  const ks = renderKickstart(machine, ctx)
  const lines = ks.split('\n')
  for (const expected of [
    'url --url="http://192.168.1.2/os"',
    'ignoredisk --only-use=nvme0n1',
    'clearpart --all --initlabel --drives=nvme0n1',
    'bootloader --boot-drive=nvme0n1',
    'timezone Europe/Paris --utc',
    'lang en_US.UTF-8',
    'keyboard --xlayouts="us"',
    'rootpw --lock',
    `sshkey --username=root "${key}"`,
    'curl -fsS -m 10 -o /dev/null http://192.168.1.2/report/installing || true',
    'curl -fsS -m 10 -o /dev/null --data-binary @/etc/ssh/ssh_host_ed25519_key.pub http://192.168.1.2/report/hostkey || true',
    'curl -fsS -m 10 -o /dev/null http://192.168.1.2/report/installed || true',
  ]) {
    assert.ok(lines.includes(expected), `missing: ${expected}\n${ks}`)
  }
  assert.ok(lines.indexOf('%pre') < lines.indexOf('%post --log=/root/homelab-post.log'))
})

test('renderKickstart() puts the static address on the NIC with the machine MAC, not on a name', () => {
  const machine = { ...config.machines[2], mac: '00-23-24-D1-F5-71' } as Machine
  const lines = renderKickstart(machine, ctx).split('\n')
  const network = lines.filter((l) => l.startsWith('network '))
  assert.deepEqual(network, [
    'network --bootproto=static --device=00:23:24:d1:f5:71 --bindto=mac --ip=192.168.1.112 --netmask=255.255.255.0 --gateway=192.168.1.1 --nameserver=192.168.1.1 --hostname=metal2 --ipv6=auto --activate --onboot=yes',
  ])
  assert.ok(!lines.some((l) => l.includes('enp3s0')), 'the configured nic name is not the device')
})

test('renderKickstart() gives / the rest of the disk: reqpart, /boot, / growing, no autopart or LVM', () => {
  const machine = config.machines[0]
  assert.ok(machine)
  const lines = renderKickstart(machine, ctx).split('\n')
  const storage = lines.slice(
    lines.indexOf('ignoredisk --only-use=sda'),
    lines.indexOf('bootloader --boot-drive=sda') + 1,
  )
  assert.deepEqual(storage, [
    'ignoredisk --only-use=sda',
    'zerombr',
    'clearpart --all --initlabel --drives=sda',
    'reqpart',
    'part /boot --size=1024 --fstype=xfs',
    'part / --grow --fstype=xfs',
    'bootloader --boot-drive=sda',
  ])
  assert.ok(!lines.some((l) => /^(autopart|logvol|volgroup)\b/.test(l)))
  const packages = lines.slice(
    lines.indexOf('%packages') + 1,
    lines.indexOf('%end', lines.indexOf('%packages')),
  )
  assert.deepEqual(packages, ['@core', 'iscsi-initiator-utils', 'nfs-utils', 'curl'])
})

test('renderKickstart() names a by-id disk by its full /dev/disk path and strips /dev/ from a bare name', () => {
  const base = config.machines[0]
  assert.ok(base)
  const byId = '/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S64ANS0T123456'
  const lines = renderKickstart({ ...base, disk: byId }, ctx).split('\n')
  for (const expected of [
    `ignoredisk --only-use=${byId}`,
    `clearpart --all --initlabel --drives=${byId}`,
    `bootloader --boot-drive=${byId}`,
  ]) {
    assert.ok(lines.includes(expected), `missing: ${expected}`)
  }
  assert.equal(diskSpec('/dev/sdb'), 'sdb')
  assert.equal(diskSpec('nvme0n1'), 'nvme0n1')
})

test('renderKickstart() has an %onerror that posts the trimmed installer log to /report/failed', () => {
  const machine = config.machines[0]
  assert.ok(machine)
  const lines = renderKickstart(machine, ctx).split('\n')
  const at = lines.indexOf('%onerror')
  assert.ok(at > 0, 'no %onerror section')
  assert.deepEqual(lines.slice(at, at + 3), [
    '%onerror',
    'tail -n 60 /tmp/anaconda.log /tmp/storage.log /tmp/packaging.log 2>/dev/null | tail -c 3500 | curl -fsS -m 10 -o /dev/null --data-binary @- http://192.168.1.2/report/failed || true',
    '%end',
  ])
})

test('renderKickstart() %post reports the name of the interface holding the machine MAC before installed', () => {
  const machine = config.machines[1]
  assert.ok(machine)
  const lines = renderKickstart(machine, ctx).split('\n')
  const nic =
    'printf \'%s\' "$iface" | curl -fsS -m 10 -o /dev/null --data-binary @- http://192.168.1.2/report/nic || true'
  assert.ok(lines.includes('for dev in /sys/class/net/*; do'))
  assert.ok(
    lines.includes(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion
      '  if [ "$(cat "$dev/address" 2>/dev/null)" = "00:23:24:d1:f5:70" ]; then iface="${dev##*/}"; fi',
    ),
  )
  assert.ok(lines.indexOf(nic) > lines.indexOf('%post --log=/root/homelab-post.log'))
  assert.ok(
    lines.indexOf(nic) <
      lines.indexOf('curl -fsS -m 10 -o /dev/null http://192.168.1.2/report/installed || true'),
  )
})

test('renderKickstart() scripts use only the curl flags the test OS stand-in implements', () => {
  for (const machine of config.machines) {
    for (const line of renderKickstart(machine, ctx).split('\n')) {
      const at = line.indexOf('curl ')
      if (at < 0) continue
      const args = line
        .slice(at + 5)
        .replace(/ \|\| true$/, '')
        .split(' ')
      assert.match(
        args.join(' '),
        /^-fsS -m \d+ -o \/dev\/null( --data-binary @\S+)? http:\/\/\S+$/,
        `curl with other flags: ${line}`,
      )
    }
  }
})

test('renderKickstart() refuses a key file that does not hold an SSH public key', () => {
  const machine = config.machines[0]
  assert.ok(machine)
  assert.throws(
    () => renderKickstart(machine, { ...ctx, sshPublicKey: '-----BEGIN OPENSSH PRIVATE KEY-----' }),
    /Cannot render kickstart for metal0: os.sshPublicKey does not hold an SSH public key/,
  )
})

test('kickstartPath() uses the lower-case colon form GRUB puts in net_default_mac', () => {
  assert.equal(kickstartPath('00-23-24-D1-F5-69'), 'ks/00:23:24:d1:f5:69.ks')
})

test('renderGrubConfigs() loads kernel and initrd unconditionally over each path transport, with the MAC kickstart URL', () => {
  const files = renderGrubConfigs({ server: '10.77.0.2:8080', kernelArgs: 'console=ttyS0' })
  assert.deepEqual([...files.keys()], [...GRUB_CONFIG_PATHS])
  const expected: Record<string, string> = {
    'uefi/grub.cfg': '(http,10.77.0.2:8080)/os',
    'grub.cfg': '(http,10.77.0.2:8080)/os',
    'grub/grub.cfg': '(tftp,10.77.0.2)/os',
  }
  for (const { path, transport } of GRUB_CONFIGS) {
    const cfg = files.get(path)
    assert.ok(cfg !== undefined)
    assert.doesNotMatch(cfg, /\btest\b|\bif\b/, `${path}: GRUB chooses nothing at boot`)
    const tree = expected[path]
    assert.ok(tree?.startsWith(`(${transport},`))
    const lines = cfg.split('\n')
    assert.ok(
      lines.includes(
        `  linux ${tree}/images/pxeboot/vmlinuz inst.repo=http://10.77.0.2:8080/os inst.ks=http://10.77.0.2:8080/ks/\${net_default_mac}.ks ip=dhcp console=ttyS0`,
      ),
      `${path}:\n${cfg}`,
    )
    assert.ok(lines.includes(`  initrd ${tree}/images/pxeboot/initrd.img`), `${path}:\n${cfg}`)
  }
})

test('GRUB_CONFIGS names Fedora GRUB paths as http and the Debian netboot GRUB prefix as tftp', () => {
  const byPath = Object.fromEntries(GRUB_CONFIGS.map((c) => [c.path, c.transport]))
  assert.deepEqual(byPath, { 'uefi/grub.cfg': 'http', 'grub.cfg': 'http', 'grub/grub.cfg': 'tftp' })
})

test('renderBootConfigs() holds every GRUB config and boot.ipxe', () => {
  const files = renderBootConfigs({ server: '10.77.0.2' })
  assert.deepEqual([...files.keys()].sort(), ['boot.ipxe', 'grub.cfg', 'grub/grub.cfg', 'uefi/grub.cfg'])
  assert.equal(files.get('boot.ipxe'), renderIpxeScript({ server: '10.77.0.2' }))
})

test('renderIpxeScript() fetches kernel and initrd over HTTP with the kickstart of the NIC iPXE booted from', () => {
  const script = renderIpxeScript({ server: '10.77.0.2' })
  assert.equal(
    script,
    [
      '#!ipxe',
      '# homelab: iPXE script for netbooting machines; rendered, do not edit',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an iPXE variable
      'kernel http://10.77.0.2/os/images/pxeboot/vmlinuz initrd=initrd.img inst.repo=http://10.77.0.2/os inst.ks=http://10.77.0.2/ks/${netX/mac}.ks ip=dhcp',
      'initrd --name initrd.img http://10.77.0.2/os/images/pxeboot/initrd.img',
      'boot',
      '',
    ].join('\n'),
  )
})
