import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseConfig } from '../../core/config/load.ts'
import { GRUB_CONFIG_PATHS, renderGrubConfig, renderIpxeScript } from './bootloader.ts'
import { kickstartPath, renderKickstart } from './kickstart.ts'

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
  assert.ok(
    lines.includes(
      'network --bootproto=static --device=enp3s0 --ip=192.168.1.112 --netmask=255.255.255.0 --gateway=192.168.1.1 --nameserver=192.168.1.1 --hostname=metal2 --ipv6=auto --activate --onboot=yes',
    ),
  )
  for (const expected of [
    'url --url="http://192.168.1.2/os"',
    'ignoredisk --only-use=nvme0n1',
    'clearpart --all --initlabel --drives=nvme0n1',
    'autopart --nohome',
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

test('renderGrubConfig() loads kernel and initrd over HTTP when GRUB can, else TFTP, with the kickstart URL from the MAC', () => {
  const cfg = renderGrubConfig({ server: '10.77.0.2', kernelArgs: 'console=ttyS0' })
  assert.match(cfg, /^if test -e \(http,10\.77\.0\.2\)\/os\/images\/pxeboot\/vmlinuz; then$/m)
  assert.match(cfg, /^ {2}set homelab_tree=\(http,10\.77\.0\.2\)\/os$/m)
  assert.match(cfg, /^ {2}set homelab_tree=\(tftp,10\.77\.0\.2\)\/os$/m)
  assert.match(
    cfg,
    /^ {2}linux \$homelab_tree\/images\/pxeboot\/vmlinuz inst\.repo=http:\/\/10\.77\.0\.2\/os inst\.ks=http:\/\/10\.77\.0\.2\/ks\/\$\{net_default_mac\}\.ks ip=dhcp console=ttyS0$/m,
  )
  assert.match(cfg, /^ {2}initrd \$homelab_tree\/images\/pxeboot\/initrd\.img$/m)
  assert.match(renderGrubConfig({ server: '10.77.0.2:8080' }), /set homelab_tree=\(tftp,10\.77\.0\.2\)\/os/)
  assert.deepEqual([...GRUB_CONFIG_PATHS], ['grub/grub.cfg', 'uefi/grub.cfg', 'grub.cfg'])
})

test('renderIpxeScript() fetches kernel and initrd over HTTP with the per-MAC kickstart', () => {
  const script = renderIpxeScript({ server: '10.77.0.2' })
  assert.equal(
    script,
    [
      '#!ipxe',
      '# homelab: iPXE script for netbooting machines; rendered, do not edit',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an iPXE variable
      'kernel http://10.77.0.2/os/images/pxeboot/vmlinuz initrd=initrd.img inst.repo=http://10.77.0.2/os inst.ks=http://10.77.0.2/ks/${net0/mac}.ks ip=dhcp',
      'initrd --name initrd.img http://10.77.0.2/os/images/pxeboot/initrd.img',
      'boot',
      '',
    ].join('\n'),
  )
})
