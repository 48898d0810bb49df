import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
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
    name: 'legacy BIOS (arch 0) gets iPXE undionly.kpxe over TFTP',
    client: { arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' },
    expected: { row: 4, protocol: 'tftp', file: 'bios/undionly.kpxe', vendorClass: 'PXEClient' },
  },
  {
    name: 'no option 93: the arch is read from the PXE vendor class',
    client: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001' },
    expected: { row: 4, protocol: 'tftp', file: 'bios/undionly.kpxe', vendorClass: 'PXEClient' },
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

/** The `file` cell of rows 1-4 of a Markdown decision table, by row number. */
function fileCells(markdown: string): Map<number, string> {
  const cells = new Map<number, string>()
  for (const line of markdown.split('\n')) {
    const row = /^\s*(?:\*\s*)?\|\s*([1-4])\s*\|[^|]*\|([^|]*)\|/.exec(line)
    const file = row?.[2] === undefined ? null : /`([^`]+)`/.exec(row[2])
    if (row?.[1] !== undefined && file?.[1] !== undefined) cells.set(Number(row[1]), file[1])
  }
  return cells
}

test('decideBoot() files match the decision table in its doc comment and in docs/metal-pxe-dhcp.md', () => {
  const root = join(import.meta.dirname, '../..')
  const expected = new Map([
    [1, 'http://<server>/boot.ipxe'],
    [2, 'http://<server>/uefi/shimx64.efi'],
    [3, 'uefi/shimx64.efi'],
    [4, 'bios/undionly.kpxe'],
  ])
  const fromCode = new Map(
    [{ userClass: 'iPXE' }, { arch: 16, vendorClass: 'HTTPClient:Arch:00016' }, { arch: 7 }, { arch: 0 }].map(
      (client) => {
        const reply = decideBoot(client, '<server>')
        assert.ok(reply)
        return [reply.row, reply.file] as const
      },
    ),
  )
  assert.deepEqual(fromCode, expected)
  const source = readFileSync(join(root, 'metal/pxe/boot-decision.ts'), 'utf8')
  const comment = source.slice(source.indexOf('decision-table:start'), source.indexOf('decision-table:end'))
  assert.deepEqual(fileCells(comment), expected, 'the doc comment of boot-decision.ts')
  assert.deepEqual(
    fileCells(readFileSync(join(root, 'docs/metal-pxe-dhcp.md'), 'utf8')),
    expected,
    'docs/metal-pxe-dhcp.md',
  )
})
