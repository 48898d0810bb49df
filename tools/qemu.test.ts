/**
 * The QEMU harness: its command lines, its console waits and clean-up, and a UEFI network boot
 * through it (OVMF -> iPXE -> DHCP/TFTP from dnsmasq -> shim -> GRUB -> the test OS kernel),
 * all inside namespaces this test makes. Needs root, qemu-system-x86, ovmf, ipxe-qemu, dnsmasq-base.
 *
 * @heavy: QEMU under software emulation; `npm test` runs it alone (tools/check.ts).
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { buildTestOs, DEFAULT_CACHE_DIR } from '../lab/testos/build.ts'
import { fetchTestOsPackages, withCacheLock } from '../lab/testos/fetch.ts'
import { PACKAGE_FILES } from '../lab/testos/packages.ts'
import { sh, TestNet, waitFor } from './netns.ts'
import { QEMU_FILES, qemuArgs, startVm, type Vm, type VmOptions } from './qemu.ts'

const after = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (i > 0 && args[i - 1] === flag ? [a] : []))

test('qemuArgs() picks firmware, writable vars, the matching iPXE ROM and the boot source', () => {
  const paths = { tap: 'tap0', consolePath: '/tmp/c.log', varsPath: '/tmp/vars.fd' }
  const uefi = qemuArgs({ mac: '52:54:00:aa:bb:cc', boot: { kind: 'network' } }, paths)
  assert.deepEqual(after(uefi, '-machine'), ['q35'])
  assert.deepEqual(after(uefi, '-drive'), [
    `if=pflash,format=raw,unit=0,readonly=on,file=${QEMU_FILES.ovmfCode}`,
    'if=pflash,format=raw,unit=1,file=/tmp/vars.fd',
  ])
  assert.deepEqual(after(uefi, '-device'), [
    `virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc,romfile=${QEMU_FILES.ipxeDir}/efi-virtio.rom,bootindex=1`,
  ])
  assert.deepEqual(after(uefi, '-netdev'), ['tap,id=n0,ifname=tap0,script=no,downscript=no'])
  assert.deepEqual(after(uefi, '-serial'), ['file:/tmp/c.log'])
  assert.deepEqual(after(uefi, '-boot'), ['n'])
  for (const flag of ['-nographic', '-no-reboot']) assert.ok(uefi.includes(flag), flag)
  assert.deepEqual(after(uefi, '-m'), ['512'])
  const native = qemuArgs({ mac: '52:54:00:aa:bb:cc', rom: 'none', boot: { kind: 'network' } }, paths)
  assert.deepEqual(after(native, '-device'), [
    'virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc,romfile=,bootindex=1',
  ])

  const secure = qemuArgs(
    { mac: '52:54:00:aa:bb:cc', firmware: 'uefi-secure', boot: { kind: 'network' } },
    paths,
  )
  assert.deepEqual(after(secure, '-machine'), ['q35,smm=on'])
  assert.ok(after(secure, '-drive')[0]?.endsWith(`file=${QEMU_FILES.ovmfSecureCode}`))
  assert.deepEqual(after(secure, '-global'), ['driver=cfi.pflash01,property=secure,value=on'])

  const bios = qemuArgs(
    {
      mac: '52:54:00:aa:bb:cc',
      firmware: 'bios',
      nic: 'e1000',
      boot: { kind: 'kernel', kernel: '/k', initrd: '/i', append: 'console=ttyS0' },
    },
    { tap: 'tap1', consolePath: '/tmp/c.log' },
  )
  assert.equal(after(bios, '-drive').length, 0, 'SeaBIOS needs no pflash')
  assert.deepEqual(after(bios, '-device'), [
    `e1000,netdev=n0,mac=52:54:00:aa:bb:cc,romfile=${QEMU_FILES.ipxeDir}/pxe-e1000.rom`,
  ])
  assert.deepEqual(
    [after(bios, '-kernel'), after(bios, '-initrd'), after(bios, '-append')],
    [['/k'], ['/i'], ['console=ttyS0']],
  )
  const cd = qemuArgs(
    { mac: '52:54:00:aa:bb:cc', firmware: 'bios', boot: { kind: 'cdrom', iso: '/x.iso' } },
    paths,
  )
  assert.deepEqual(after(cd, '-drive'), ['file=/x.iso,media=cdrom,readonly=on'])
  assert.deepEqual(after(cd, '-boot'), ['d'])

  assert.throws(() => qemuArgs({ mac: '52:54:00:AA:BB:CC', boot: { kind: 'network' } }, paths), /lower-case/)
  assert.throws(
    () =>
      qemuArgs({ mac: '52:54:00:aa:bb:cc', boot: { kind: 'network' } }, { ...paths, varsPath: undefined }),
    /OVMF vars/,
  )
})

test('Vm.waitForLine() times out with the last console lines; stop() kills QEMU and removes its files', async () => {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR })
  const net = await TestNet.create('qemu')
  let vm: Vm | undefined
  try {
    // No DHCP server on this net: the test OS reports that it got no lease, and stays up.
    vm = await startVm(net, {
      mac: '52:54:00:00:78:01',
      firmware: 'bios',
      boot: {
        kind: 'kernel',
        kernel: os.kernelPath,
        initrd: os.initrdPath,
        append: 'inst.ks=http://10.78.0.1/ks.cfg console=ttyS0 loglevel=4',
      },
    })
    const line = await vm.waitForLine(/=== homelab TEST OS \(not Fedora\) ===/, 60_000)
    assert.equal(line, '=== homelab TEST OS (not Fedora) ===')
    await vm.waitForLine(/DHCP on eth0 \(52:54:00:00:78:01\)/, 30_000)
    const started = Date.now()
    await assert.rejects(vm.waitForLine(/this line never comes/, 1500), (err: Error) => {
      assert.match(err.message, /Cannot find console line \/this line never comes\/ on VM 52:54:00:00:78:01/)
      assert.match(err.message, /--- last 30 console lines ---\n[\s\S]*DHCP on eth0 \(52:54:00:00:78:01\)/)
      return true
    })
    assert.ok(Date.now() - started < 5000)

    const { pid, consolePath } = vm
    await vm.stop()
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' })
    await assert.rejects(stat(dirname(consolePath)), { code: 'ENOENT' })
    assert.equal(await sh('ip', ['-n', net.switchNs, '-o', 'link', 'show', 'type', 'tun']), '')
    await vm.stop() // twice is fine
  } finally {
    await vm?.stop()
    await net.destroy()
  }
})

/**
 * A namespace serving DHCP and TFTP with dnsmasq: shim as the boot file, GRUB beside it, and a
 * grub/grub.cfg that boots the test OS kernel and initrd over TFTP. Calls check(vm, dnsmasqLog, tftpRoot).
 */
async function netboot(
  subnet: string,
  vmOptions: Omit<VmOptions, 'boot'>,
  check: (vm: Vm, log: string, tftp: string) => Promise<void>,
): Promise<void> {
  const os = await buildTestOs({ cacheDir: DEFAULT_CACHE_DIR })
  const dir = await mkdtemp(join(tmpdir(), 'hl-netboot-'))
  const net = await TestNet.create('uefi')
  let vm: Vm | undefined
  try {
    const tftp = join(dir, 'tftp')
    await mkdir(join(tftp, 'grub'), { recursive: true })
    await copyFile(join(os.treeDir, 'EFI/BOOT/BOOTX64.EFI'), join(tftp, 'BOOTX64.EFI'))
    // Debian's signed netboot GRUB (prefix /grub, so grub/grub.cfg): the chain Secure Boot accepts.
    const fetched = await withCacheLock(DEFAULT_CACHE_DIR, () =>
      fetchTestOsPackages({ cacheDir: DEFAULT_CACHE_DIR }),
    )
    const grub = join(fetched.packages[PACKAGE_FILES.grub.pkg]?.root ?? '', PACKAGE_FILES.grub.path)
    await copyFile(grub, join(tftp, 'grubx64.efi'))
    await copyFile(os.kernelPath, join(tftp, 'vmlinuz'))
    await copyFile(os.initrdPath, join(tftp, 'initrd.img'))
    await writeFile(
      join(tftp, 'grub/grub.cfg'),
      [
        'set timeout=0',
        "menuentry 'homelab test OS' {",
        `  linux /vmlinuz inst.ks=http://${subnet}.1/ks.cfg console=ttyS0 loglevel=4`,
        '  initrd /initrd.img',
        '}',
        '',
      ].join('\n'),
    )
    const srv = await net.host('srv', `${subnet}.1/24`)
    const dnsmasq = srv.spawn([
      'dnsmasq',
      '--no-daemon',
      '--port=0',
      '--user=root', // the TFTP root is in a 0700 temp folder
      '--interface=eth0',
      '--bind-interfaces',
      '--no-resolv',
      '--conf-file=/dev/null',
      `--dhcp-range=${subnet}.100,${subnet}.150,255.255.255.0,1h`,
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      '--dhcp-match=set:efi64,option:client-arch,7',
      '--dhcp-boot=tag:efi64,BOOTX64.EFI',
      '--enable-tftp',
      `--tftp-root=${tftp}`,
      '--log-dhcp',
    ])
    await waitFor('dnsmasq', () => (/DHCP, IP range/.test(dnsmasq.output()) ? true : undefined), 5000)

    vm = await startVm(net, { ...vmOptions, boot: { kind: 'network' } })
    await vm.waitForLine(/=== homelab TEST OS \(not Fedora\) ===/, 85_000)
    const log = dnsmasq.output()
    // The firmware says it is x86-64 UEFI (option 93 = 7, echoed in the vendor class).
    assert.match(log, /vendor class: PXEClient:Arch:00007:/)
    const sent = [...log.matchAll(/sent (\S+) to \d+\.\d+\.\d+\.\d+/g)].map(
      (m) => m[1]?.replace(tftp, '') ?? '',
    )
    // Each stage fetched the next, in this order (files may be fetched more than once: see below).
    const chain = ['/BOOTX64.EFI', '/grubx64.efi', '/grub/grub.cfg', '/vmlinuz', '/initrd.img']
    let at = 0
    for (const file of sent) if (file === chain[at]) at++
    assert.equal(at, chain.length, `TFTP sent ${sent.join(', ')}`)
    await check(vm, log, tftp)
  } finally {
    await vm?.stop()
    await net.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}

test('UEFI network boot through the harness: OVMF + iPXE -> dnsmasq DHCP/TFTP -> shim -> GRUB -> test OS', async () => {
  await netboot('10.79.0', { mac: '52:54:00:00:79:01', firmware: 'uefi' }, async (vm) => {
    // iPXE (the NIC's ROM) fetched shim. With Debian 12's 2019 iPXE, shim then fails to load GRUB through
    // iPXE's PXE base code ("Malformed binary after Attribute Certificate Table") and the firmware's own
    // UEFI PXE boot option runs the same chain again: docs/testos.md.
    const text = await vm.console()
    assert.match(text, /tftp:\/\/10\.79\.0\.1\/BOOTX64\.EFI\.\.\. ok/)
    assert.match(text, /Booting `homelab test OS'/)
  })
})

test('UEFI Secure Boot network boot: Microsoft-signed shim -> Debian-signed GRUB -> Debian-signed kernel', async () => {
  // OVMF with the Microsoft keys enrolled, and its own PXE (no iPXE ROM), as on a real machine.
  await netboot('10.81.0', { mac: '52:54:00:00:81:01', firmware: 'uefi-secure', rom: 'none' }, async (vm) => {
    const text = await vm.console()
    assert.match(text, /EFI stub: UEFI Secure Boot is enabled/)
    assert.doesNotMatch(text, /iPXE/)
  })
})
