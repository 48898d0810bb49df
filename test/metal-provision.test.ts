/**
 * `homelab metal` through the real CLI, with a SCRIPTED STAND-IN for the machine:
 * a namespace whose "power-on" (a real Wake-on-LAN magic packet) runs a shell script
 * that does what the installer does over the network (busybox udhcpc with PXE options,
 * TFTP boot loader and GRUB config, HTTP kernel and kickstart, reports, then a real
 * OpenSSH server with the host key it reported). The QEMU tests run the real firmware,
 * boot loader and kernel; this one is fast and checks the orchestration, state and re-runs.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { sh, TestNet, waitFor, within } from '../tools/netns.ts'

const root = join(import.meta.dirname, '..')
const MAC = '52:54:00:92:00:10'

const CONFIG = `network:
  interface: eth0
  subnet: 10.92.0.0/24
  gateway: 10.92.0.1
  controller: 10.92.0.2
  dhcp: { mode: full }
machines:
  - { name: metal0, mac: "${MAC}", ip: 10.92.0.10, role: server, disk: vda, nic: eth0 }
cluster: { k3sVersion: v1.33.5+k3s1, endpoint: 10.92.0.10 }
os: { release: 43, iso: { url: "https://example.invalid/unused.iso", sha256: "${'a'.repeat(64)}" }, timezone: UTC, sshPublicKey: id.pub }
gitops: { seed: { url: "https://example.com/homelab" }, domain: lab.home.arpa }
`

/** What an installer does over the network, in shell, for the stand-in machine. */
function machineScript(dir: string): string {
  return `#!/bin/sh
set -eu
S=10.92.0.2
out=$(busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -V PXEClient:Arch:00007:UNDI:003016 -x 0x5d:0007 -s ${dir}/lease.sh)
eval "$(echo "$out" | grep '^LEASE' | cut -d' ' -f2-)"
ip addr add "$ip/24" dev eth0
curl -sf -o /dev/null "tftp://$siaddr/$boot_file"
curl -sf -o ${dir}/grub.cfg "tftp://$S/grub/grub.cfg"
ks=$(grep -o 'inst.ks=[^ ]*' ${dir}/grub.cfg | cut -d= -f2 | sed 's/\${net_default_mac}/${MAC}/')
curl -sf -o /dev/null "http://$S/os/images/pxeboot/vmlinuz"
curl -sf -o ${dir}/ks.cfg "$ks"
grep -q 'network --bootproto=static --device=${MAC} --bindto=mac --ip=10.92.0.10' ${dir}/ks.cfg
curl -sf "http://$S/report/installing"
curl -sf --data-binary @${dir}/host_ed25519.pub "http://$S/report/hostkey"
curl -sf "http://$S/report/installed"
exec /usr/sbin/sshd -D -e -f ${dir}/sshd_config
`
}

test('homelab metal installs a machine woken over the network, records its host key, and skips it on a re-run (scripted stand-in machine)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'metal-'))
  const net = await TestNet.create('metal')
  try {
    await mkdir(join(dir, 'tree/EFI/BOOT'), { recursive: true })
    await mkdir(join(dir, 'tree/images/pxeboot'), { recursive: true })
    for (const f of [
      'EFI/BOOT/BOOTX64.EFI',
      'EFI/BOOT/grubx64.efi',
      'images/pxeboot/vmlinuz',
      'images/pxeboot/initrd.img',
    ]) {
      await writeFile(join(dir, 'tree', f), `stand-in ${f}\n`)
    }
    await sh('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-R',
      '-J',
      '-o',
      join(dir, 'tree.iso'),
      join(dir, 'tree'),
    ])
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'controller', '-f', join(dir, 'id')])
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')])
    await writeFile(join(dir, 'homelab.yaml'), CONFIG)
    await writeFile(
      join(dir, 'lease.sh'),
      '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE ip=$ip siaddr=$siaddr boot_file=$boot_file"\nexit 0\n',
      { mode: 0o755 },
    )
    await writeFile(join(dir, 'machine.sh'), machineScript(dir), { mode: 0o755 })
    await writeFile(
      join(dir, 'sshd_config'),
      `HostKey ${join(dir, 'host_ed25519')}\nListenAddress 10.92.0.10\nPidFile ${join(dir, 'sshd.pid')}\nUsePAM no\n`,
    )
    await sh('mkdir', ['-p', '/run/sshd'])
    const ctl = await net.host('ctl', '10.92.0.2/24')
    const machine = await net.host('metal0', '', { mac: MAC })
    const power = machine.spawn([
      process.execPath,
      join(root, 'test/harness/wol-power.ts'),
      MAC,
      '--',
      'sh',
      join(dir, 'machine.sh'),
    ])
    await waitFor('the stand-in machine to listen for Wake-on-LAN', () =>
      power.output().includes('LISTENING') ? true : undefined,
    )

    // The ISO is "cached" under the digest homelab.yaml pins, as ensureIso would leave it.
    const isoDigest = (await sh('sha256sum', [join(dir, 'tree.iso')])).split(' ')[0] ?? ''
    const config = CONFIG.replace('a'.repeat(64), isoDigest)
    await writeFile(join(dir, 'homelab.yaml'), config)
    await mkdir(join(root, '.cache/iso'), { recursive: true })
    await sh('cp', [join(dir, 'tree.iso'), join(root, '.cache/iso', `${isoDigest}.iso`)])

    const metal = (...extra: string[]) =>
      ctl.spawn([
        join(root, 'bin/homelab'),
        'metal',
        '--skip-doctor',
        '--skip-cluster',
        '--config',
        join(dir, 'homelab.yaml'),
        '--timeout',
        'waiting=60',
        ...extra,
      ])
    const first = metal()
    const code = await within(first.exited, 90_000, 'timed out after 90 s')
    assert.equal(code, 0, `${first.output()}\n--- machine ---\n${power.output()}`)
    assert.match(power.output(), /POWER-ON/)
    assert.match(first.output(), /metal0: to install: not installed by homelab yet/)
    assert.match(
      first.output(),
      /^ {2}metal0\s+10\.92\.0\.10\s+installed\s+[\d.]+s\s+[\d.]+s\s+[\d.]+s\s+[\d.]+s\s+[\d.]+s\s+SSH ready at 10\.92\.0\.10$/m,
    )
    const state = JSON.parse(await readFile(join(dir, '.state/machines.json'), 'utf8')) as {
      machines: Record<string, { hostKey: string }>
    }
    const hostKey = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim()
    assert.equal(state.machines.metal0?.hostKey, hostKey)

    // Re-run: the machine answers SSH with its recorded key, so nothing is served or woken.
    const second = metal()
    assert.equal(await second.exited, 0, second.output())
    assert.match(
      second.output(),
      /metal0: skipped: installed: SSH at 10\.92\.0\.10 answers with the host key recorded at its install/,
    )
    assert.doesNotMatch(second.output(), /to install/)
  } finally {
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
})
