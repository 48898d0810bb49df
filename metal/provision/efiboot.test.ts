/**
 * parseEfibootmgr() and chooseNetbootEntry() on efibootmgr output as machines printed it. The
 * Lenovo, Realtek and ThinkPad texts are real outputs posted in public issues (source named on
 * each); the OVMF text follows edk2's network description ("UEFI PXEv4 (MAC:...)",
 * MdeModulePkg BmGetNetworkDescription) in efibootmgr 18's layout, and the lab's QEMU reinstall test
 * runs the real thing.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chooseNetbootEntry, parseEfibootmgr } from './efiboot.ts'

/** OVMF after Fedora's installer put its own entry first (efibootmgr 18, -v). */
const OVMF = [
  'BootCurrent: 0004',
  'Timeout: 0 seconds',
  'BootOrder: 0004,0001,0002,0003,0000',
  'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
  '      dp: 04 07 14 00 c9 bd b8 7c eb f8 34 4f aa ea 3e e4 af 65 16 a1 / 7f ff 04 00',
  'Boot0001* UEFI PXEv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.00.0.0.0,0,0)',
  '      dp: 02 01 0c 00 d0 41 03 0a 00 00 00 00 / 7f ff 04 00',
  'Boot0002* UEFI PXEv6 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv6([::]:<->[::]:,0,0)',
  'Boot0003* UEFI HTTPv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.00.0.0.0,0,0)/Uri()',
  'Boot0004* Fedora\tHD(1,GPT,5f1a0c8e-2f6e-4a3c-9d8e-0b1c2d3e4f50,0x800,0x12c000)/File(\\EFI\\fedora\\shimx64.efi)',
  '    data: 00 00',
].join('\n')

/** A Lenovo server with a 4-port Broadcom card, efibootmgr -v (fwupd/firmware-lenovo#394; tabs as efibootmgr prints them). */
const BROADCOM = [
  'BootCurrent: 000D',
  'Timeout: 1 seconds',
  'BootOrder: 000D,0006,000C,0005,000B,0002,0003,0004,0008,0009,000A,0001,0007',
  'Boot0001  UEFI: PXE IPv4 Broadcom NetXtreme PCIe 1Gb 4-Port RJ45 Ethernet Adapter\tPciRoot(0x0)/Pci(0x6,0x0)/Pci(0x0,0x0)/MAC(00620b014208,1)/IPv4(0.0.0.00.0.0.0,0,0)0000424f',
  '      dp: 02 01 0c 00 d0 41 03 0a 00 00 00 00 / 01 01 06 00 00 06 / 7f ff 04 00',
  '    data: 00 00 42 4f',
  'Boot0002* UEFI: PXE IPv4 Broadcom NetXtreme PCIe 1Gb 4-Port RJ45 Ethernet Adapter\tPciRoot(0x0)/Pci(0x6,0x0)/Pci(0x0,0x1)/MAC(00620b014209,1)/IPv4(0.0.0.00.0.0.0,0,0)0000424f',
  'Boot0003* UEFI: PXE IPv4 Broadcom NetXtreme PCIe 1Gb 4-Port RJ45 Ethernet Adapter\tPciRoot(0x0)/Pci(0x6,0x0)/Pci(0x0,0x2)/MAC(00620b01420a,1)/IPv4(0.0.0.00.0.0.0,0,0)0000424f',
  'Boot000D* ubuntu\tHD(1,GPT,0b1c2d3e-0000-4000-8000-000000000001,0x800,0x100000)/File(\\EFI\\ubuntu\\shimx64.efi)',
].join('\n')

/** A desktop with a Realtek NIC, efibootmgr 17 without -v: labels only (rhboot/efibootmgr#168). */
const REALTEK = [
  'BootCurrent: 0001',
  'Timeout: 0 seconds',
  'BootOrder: 0001,0000,0004',
  'Boot0000* Windows Boot Manager',
  'Boot0001* Arch Linux',
  'Boot0004* UEFI: IP4 Realtek PCIe GBE Family Controller',
].join('\n')

/** An older board, efibootmgr 0.11 -v, the MAC masked by its poster (rhboot/efibootmgr#34). */
const ONBOARD = [
  'BootCurrent: 0008',
  'Timeout: 0 seconds',
  'BootOrder: 0002,0008,0006,2001',
  'Boot0000* UEFI Onboard LAN IPv6\tACPI(a0341d0,0)PCI(1c,0)PCI(0,0)MAC(MAC(mmmmmmmmmmmm,0)030d3c00RC',
  'Boot0001* UEFI Onboard LAN IPv4\tACPI(a0341d0,0)PCI(1c,0)PCI(0,0)MAC(MAC(mmmmmmmmmmmm,0)RC',
  'Boot0002* ubuntu\tHD(1,800,fa000,xxxxxxxx-xxxx-xxxx-xxxxxxxxxxxx)File(\\EFI\\ubuntu\\shimx64.efi)',
  'Boot2001* EFI USB Device\tRC',
].join('\n')

/** A ThinkPad with disk entries only (fwupd/firmware-lenovo#428). */
const NO_NETWORK = [
  'BootCurrent: 0001',
  'Timeout: 0 seconds',
  'BootOrder: 0001,0000',
  'Boot0000* grub\tHD(1,GPT,cd52e45f-ad25-4712-b06a-a6f33373a7af,0x800,0x100000)/\\EFI\\grub\\grubx64.efi',
  'Boot0001* VoidLinux\tHD(1,GPT,cd52e45f-ad25-4712-b06a-a6f33373a7af,0x800,0x100000)/\\EFI\\VoidLinux\\grubx64.efi',
].join('\n')

test('parseEfibootmgr() reads BootCurrent, BootNext, BootOrder and each entry, skipping the dp/data lines', () => {
  const vars = parseEfibootmgr(`BootNext: 0001\n${OVMF}`)
  assert.equal(vars.next, '0001')
  assert.equal(vars.current, '0004')
  assert.deepEqual(vars.order, ['0004', '0001', '0002', '0003', '0000'])
  assert.equal(vars.entries.length, 5)
  assert.deepEqual(vars.entries[1], {
    num: '0001',
    active: true,
    label: 'UEFI PXEv4 (MAC:525400123456)',
    path: 'PciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.00.0.0.0,0,0)',
  })
  const broadcom = parseEfibootmgr(BROADCOM)
  assert.deepEqual(
    broadcom.entries.map((e) => [e.num, e.active]),
    [
      ['0001', false],
      ['0002', true],
      ['0003', true],
      ['000D', true],
    ],
  )
  assert.deepEqual(parseEfibootmgr(REALTEK).entries[2], {
    num: '0004',
    active: true,
    label: 'UEFI: IP4 Realtek PCIe GBE Family Controller',
    path: '',
  })
  assert.deepEqual(parseEfibootmgr('garbage\nBootOrder: zzzz\n'), { order: [], entries: [] })
})

test('parseEfibootmgr() removes escape sequences a firmware label could carry', () => {
  const [entry] = parseEfibootmgr('Boot0001* Evil\u001b]0;x\u0007 NIC\tMAC(001122334455,1)').entries
  assert.equal(entry?.label, 'Evil ]0;x  NIC')
})

test('chooseNetbootEntry() picks the entry naming the MAC, IPv4 PXE before IPv6 and HTTP boot', () => {
  const table: [string, string, string, string, RegExp][] = [
    ['OVMF', OVMF, '52:54:00:12:34:56', '0001', /names its MAC/],
    ['OVMF, MAC in dashes and upper case', OVMF, '52-54-00-12-34-56'.toUpperCase(), '0001', /names its MAC/],
    ['Broadcom, second port', BROADCOM, '00:62:0b:01:42:09', '0002', /names its MAC/],
    [
      'Broadcom, first port (inactive entry: still the one naming it)',
      BROADCOM,
      '00:62:0b:01:42:08',
      '0001',
      /names/,
    ],
    [
      'Broadcom, a MAC of another card',
      BROADCOM,
      '00:11:22:33:44:55',
      '0002',
      /no entry names .* best of 3 network/,
    ],
    ['Realtek by label (IP4)', REALTEK, 'aa:bb:cc:dd:ee:ff', '0004', /best of 1 network boot entry$/],
    ['onboard LAN: IPv4 before IPv6', ONBOARD, 'aa:bb:cc:dd:ee:ff', '0001', /best of 2/],
  ]
  for (const [name, text, mac, num, why] of table) {
    const choice = chooseNetbootEntry(parseEfibootmgr(text), mac)
    assert.equal(choice.kind === 'found' ? choice.entry.num : choice.why, num, name)
    assert.match(choice.why, why, name)
  }
})

test('chooseNetbootEntry() says so, with the entries and the fix, when there is no network entry', () => {
  const choice = chooseNetbootEntry(parseEfibootmgr(NO_NETWORK), '52:54:00:12:34:56')
  assert.deepEqual(choice, {
    kind: 'none',
    why: 'no boot entry is a network boot entry (entries: Boot0000 "grub", Boot0001 "VoidLinux"); enable network boot (PXE) in its firmware settings',
  })
})
