import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { clientRequest, DhcpOption, decodeDhcp, optString, optUint8 } from '../../lib/dhcp4/index.ts'
import { readPcap, udpDatagram } from '../../lib/pcap/index.ts'
import { describeClient, firmwareLabel } from './client.ts'

const fixtures = join(import.meta.dirname, '../../lib/dhcp4/fixtures')

/** The clients' requests (to port 67) of a real capture, described. */
function requestsIn(file: string) {
  const pcap = readPcap(readFileSync(join(fixtures, file)))
  return pcap.records.flatMap((r) => {
    const udp = udpDatagram(pcap.linkType, r.data)
    if (udp === undefined || udp.dstPort !== 67) return []
    return [describeClient(decodeDhcp(udp.payload))]
  })
}

test('describeClient() reads a UEFI x64 PXE client from the udhcpc capture (option 93 = 7)', () => {
  const seen = requestsIn('udhcpc-pxe.pcap')
  assert.ok(seen.length > 0)
  for (const c of seen) {
    assert.equal(c?.mac, '02:00:00:00:00:10')
    assert.equal(c?.netboot, true)
    assert.equal(c?.firmware, 'uefi')
    assert.equal(c?.arch, 7)
  }
})

test('describeClient() reads a BIOS PXE client from the iPXE capture', () => {
  const seen = requestsIn('ipxe-bios.pcap')
  assert.ok(seen.length > 0)
  assert.ok(seen.every((c) => c?.mac === '52:54:00:00:00:13' && c.firmware === 'bios' && c.netboot))
})

test('describeClient() marks a plain DHCP client (dhclient) as not netbooting', () => {
  const seen = requestsIn('dhclient.pcap')
  assert.ok(seen.length > 0)
  for (const c of seen) {
    assert.equal(c?.mac, '02:00:00:00:00:11')
    assert.equal(c?.netboot, false)
    assert.equal(c?.firmware, undefined)
    assert.equal(firmwareLabel(c as NonNullable<typeof c>), 'not netbooting')
  }
})

const request = (options: [number, Uint8Array][]) =>
  clientRequest({
    mac: '00:1a:11:00:00:01',
    xid: 1,
    options: [[DhcpOption.MessageType, optUint8(1)], ...options],
  })

for (const { what, options, firmware, label } of [
  {
    what: 'arch 16 with HTTPClient',
    options: [
      [93, Uint8Array.of(0, 16)],
      [60, optString('HTTPClient:Arch:00016')],
    ],
    firmware: 'uefi-http',
    label: 'UEFI HTTP',
  },
  {
    what: 'the vendor class alone (no option 93)',
    options: [[60, optString('PXEClient:Arch:00000:UNDI:002001')]],
    firmware: 'bios',
    label: 'BIOS',
  },
  {
    what: 'an arch it does not know',
    options: [[93, Uint8Array.of(0, 2)]],
    firmware: undefined,
    label: 'arch 2',
  },
  {
    what: 'a malformed option 93 (3 bytes)',
    options: [
      [93, Uint8Array.of(0, 7, 1)],
      [60, optString('PXEClient')],
    ],
    firmware: undefined,
    label: 'PXE',
  },
] as { what: string; options: [number, Uint8Array][]; firmware: string | undefined; label: string }[]) {
  test(`describeClient() reads ${what} as ${label}`, () => {
    const c = describeClient(request(options))
    assert.equal(c?.firmware, firmware)
    assert.equal(c?.netboot, true)
    assert.equal(firmwareLabel(c as NonNullable<typeof c>), label)
    assert.equal(c?.message, 'DHCPDISCOVER')
  })
}

test('describeClient() ignores replies', () => {
  assert.equal(describeClient({ ...request([]), op: 2 }), undefined)
})
