import assert from 'node:assert/strict'
import { test } from 'node:test'
import { magicPacket } from '../metal/provision/wol.ts'
import { labVmOptions, parseMagicPacket, powerSpec } from './power.ts'
import { QEMU_FILES, qemuArgs } from './qemu-args.ts'

const after = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (i > 0 && args[i - 1] === flag ? [a] : []))

test('parseMagicPacket() reads the MAC of a magic packet and nothing else', () => {
  const good = magicPacket('52:54:00:77:00:10')
  const cases: Array<{ name: string; packet: Uint8Array; mac: string | undefined }> = [
    { name: 'a magic packet', packet: good, mac: '52:54:00:77:00:10' },
    {
      name: 'with a 6-byte SecureOn password after it',
      packet: Uint8Array.from([...good, 1, 2, 3, 4, 5, 6]),
      mac: '52:54:00:77:00:10',
    },
    { name: 'one byte short', packet: good.subarray(0, 101), mac: undefined },
    {
      name: 'header not 6 x 0xff',
      packet: Uint8Array.from(good, (b, i) => (i === 2 ? 0xfe : b)),
      mac: undefined,
    },
    {
      name: 'the 16th repetition differs',
      packet: Uint8Array.from(good, (b, i) => (i === 101 ? b ^ 1 : b)),
      mac: undefined,
    },
    { name: 'empty', packet: new Uint8Array(), mac: undefined },
  ]
  for (const c of cases) assert.equal(parseMagicPacket(c.packet), c.mac, c.name)
})

test('powerSpec() gives each machine a tap and its firmware', () => {
  const machine = { role: 'server', disk: 'vda', nic: 'eth0' } as const
  const spec = powerSpec(
    [
      { ...machine, name: 'a', mac: '52:54:00:AA:00:01', ip: '10.0.0.10' },
      { ...machine, name: 'b', mac: '52:54:00:aa:00:02', ip: '10.0.0.11', firmware: 'bios' },
      { ...machine, name: 'c', mac: '52-54-00-aa-00-03', ip: '10.0.0.12', firmware: 'uefi-http' },
    ],
    'tcg',
  )
  assert.deepEqual(spec, {
    machines: [
      { name: 'a', mac: '52:54:00:aa:00:01', firmware: 'uefi', tap: 'tap0' },
      { name: 'b', mac: '52:54:00:aa:00:02', firmware: 'bios', tap: 'tap1' },
      { name: 'c', mac: '52:54:00:aa:00:03', firmware: 'uefi-http', tap: 'tap2' },
    ],
    accel: 'tcg',
    memoryMb: 1024,
  })
})

test("labVmOptions() boots UEFI machines with the iPXE ROM and BIOS machines with QEMU's default ROM, each with its disk and restarting on a guest reboot", () => {
  const spec = { accel: 'tcg', memoryMb: 1024 } as const
  const paths = { tap: 'tap0', consolePath: '/s/vms/a/console.log', varsPath: '/s/vms/a/OVMF_VARS.fd' }
  const uefi = qemuArgs(
    labVmOptions(
      { name: 'a', mac: '52:54:00:aa:00:01', firmware: 'uefi', tap: 'tap0' },
      spec,
      '/s/vms/a/disk.img',
    ),
    paths,
  )
  assert.deepEqual(after(uefi, '-machine'), ['q35'])
  assert.deepEqual(after(uefi, '-m'), ['1024'])
  assert.deepEqual(after(uefi, '-boot'), ['n'])
  assert.deepEqual(after(uefi, '-serial'), ['file:/s/vms/a/console.log'])
  assert.ok(uefi.includes('-nographic'))
  // A guest reboot restarts the machine in the same QEMU: same disk, same UEFI variables.
  assert.ok(!uefi.includes('-no-reboot'))
  assert.deepEqual(after(uefi, '-drive'), [
    `if=pflash,format=raw,unit=0,readonly=on,file=${QEMU_FILES.ovmfCode}`,
    'if=pflash,format=raw,unit=1,file=/s/vms/a/OVMF_VARS.fd',
    'file=/s/vms/a/disk.img,format=raw,if=virtio',
  ])
  // No bootindex: OVMF would reorder BootOrder to it on every boot, undoing the installed entry.
  assert.deepEqual(after(uefi, '-device'), [
    `virtio-net-pci,netdev=n0,mac=52:54:00:aa:00:01,romfile=${QEMU_FILES.ipxeDir}/efi-virtio.rom`,
  ])
  const bios = qemuArgs(
    labVmOptions(
      { name: 'b', mac: '52:54:00:aa:00:02', firmware: 'bios', tap: 'tap1' },
      spec,
      '/s/vms/b/disk.img',
    ),
    { tap: 'tap1', consolePath: '/s/vms/b/console.log' },
  )
  assert.deepEqual(after(bios, '-drive'), ['file=/s/vms/b/disk.img,format=raw,if=virtio'], 'no pflash')
  // No romfile=: QEMU's default iPXE ROM, whose PCI IDs QEMU patches to match the NIC (SeaBIOS skips it otherwise).
  assert.deepEqual(after(bios, '-device'), ['virtio-net-pci,netdev=n0,mac=52:54:00:aa:00:02'])
  assert.deepEqual(after(bios, '-netdev'), ['tap,id=n0,ifname=tap1,script=no,downscript=no'])
})

test('qemuArgs() keeps -no-reboot and the NIC bootindex for a diskless VM (the tests: a reboot ends QEMU)', () => {
  const args = qemuArgs(
    { mac: '52:54:00:aa:00:03', boot: { kind: 'network' }, accel: 'tcg' },
    { tap: 'tap0', consolePath: '/c.log', varsPath: '/v.fd' },
  )
  assert.ok(args.includes('-no-reboot'))
  assert.match(after(args, '-device')[0] ?? '', /,bootindex=1$/)
})

test("labVmOptions() HTTP-boots uefi-http machines: OVMF's own network stack without its PXEv4 entries", () => {
  const args = qemuArgs(
    labVmOptions(
      { name: 'c', mac: '52:54:00:aa:00:03', firmware: 'uefi-http', tap: 'tap2' },
      { accel: 'tcg', memoryMb: 1024 },
      '/s/vms/c/disk.img',
    ),
    { tap: 'tap2', consolePath: '/s/vms/c/console.log', varsPath: '/s/vms/c/OVMF_VARS.fd' },
  )
  assert.deepEqual(after(args, '-fw_cfg'), [
    'name=opt/org.tianocore/IPv4PXESupport,string=n',
    'name=opt/org.tianocore/IPv6Support,string=n',
  ])
  assert.deepEqual(after(args, '-device'), ['virtio-net-pci,netdev=n0,mac=52:54:00:aa:00:03,romfile='])
  assert.ok(
    after(args, '-drive').includes(`if=pflash,format=raw,unit=0,readonly=on,file=${QEMU_FILES.ovmfCode}`),
  )
})
