import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type BootClient, type BootReply, DEFAULT_BOOT_FILES, decideBoot } from './boot-decision.ts'

const S = '10.0.0.2'
const rows: { name: string; client: BootClient; expected: BootReply | undefined }[] = [
  {
    name: 'iPXE (user class "iPXE") gets the boot.ipxe URL whatever its arch',
    client: { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', userClass: 'iPXE' },
    expected: { row: 1, protocol: 'http', file: 'http://10.0.0.2/boot.ipxe', vendorClass: 'PXEClient' },
  },
  {
    name: 'iPXE on BIOS also gets the boot.ipxe URL (no chainload loop)',
    client: { arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: 'iPXE' },
    expected: { row: 1, protocol: 'http', file: 'http://10.0.0.2/boot.ipxe', vendorClass: 'PXEClient' },
  },
  {
    name: 'UEFI HTTP boot (arch 16, HTTPClient) gets an http:// URL and vendor class HTTPClient',
    client: { arch: 16, vendorClass: 'HTTPClient:Arch:00016:UNDI:003001' },
    expected: {
      row: 2,
      protocol: 'http',
      file: 'http://10.0.0.2/uefi/shimx64.efi',
      vendorClass: 'HTTPClient',
    },
  },
  {
    name: 'UEFI x86-64 PXE (arch 7) gets shim over TFTP',
    client: { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003016' },
    expected: { row: 3, protocol: 'tftp', file: 'uefi/shimx64.efi', vendorClass: 'PXEClient' },
  },
  {
    name: 'UEFI x86-64 PXE reporting arch 9 (EFI BC) gets shim over TFTP',
    client: { arch: 9, vendorClass: 'PXEClient:Arch:00009:UNDI:003016' },
    expected: { row: 3, protocol: 'tftp', file: 'uefi/shimx64.efi', vendorClass: 'PXEClient' },
  },
  {
    name: 'legacy BIOS (arch 0) gets GRUB core.0 over TFTP',
    client: { arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' },
    expected: { row: 4, protocol: 'tftp', file: 'bios/core.0', vendorClass: 'PXEClient' },
  },
  {
    name: 'no option 93: the arch is read from the PXE vendor class',
    client: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001' },
    expected: { row: 4, protocol: 'tftp', file: 'bios/core.0', vendorClass: 'PXEClient' },
  },
  {
    name: 'arch 16 without the HTTPClient vendor class gets nothing',
    client: { arch: 16, vendorClass: 'PXEClient:Arch:00016' },
    expected: undefined,
  },
  {
    name: 'EFI IA32 (arch 6) gets nothing',
    client: { arch: 6, vendorClass: 'PXEClient' },
    expected: undefined,
  },
  {
    name: 'arm64 (arch 11) gets nothing',
    client: { arch: 11, vendorClass: 'PXEClient' },
    expected: undefined,
  },
  { name: 'no arch at all gets nothing', client: { vendorClass: 'PXEClient' }, expected: undefined },
  { name: 'a plain DHCP client gets nothing', client: {}, expected: undefined },
]

for (const { name, client, expected } of rows) {
  test(`decideBoot(): ${name}`, () => {
    assert.deepEqual(decideBoot(client, S), expected)
  })
}

test('decideBoot() uses the given BootFiles instead of the defaults', () => {
  const files = { ...DEFAULT_BOOT_FILES, uefiTftp: 'grub/grubnetx64.efi', ipxeScript: 'ipxe/menu.ipxe' }
  assert.equal(decideBoot({ arch: 7 }, S, files)?.file, 'grub/grubnetx64.efi')
  assert.equal(decideBoot({ userClass: 'iPXE' }, S, files)?.file, 'http://10.0.0.2/ipxe/menu.ipxe')
})
