/**
 * Golden tests on real bytes: each fixtures/*.pcap (captured by test/harness/dhcp-capture.ts from
 * udhcpc, dhclient, nmap and iPXE talking to dnsmasq) decodes to fixtures/*.parsed.txt.
 * `UPDATE_GOLDEN=1 tools/node24 --test lib/dhcp4/golden.test.ts` rewrites them.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { readPcap, udpDatagram } from '../pcap/index.ts'
import { formatDhcp } from './format.ts'
import { decodeDhcp, encodeDhcp } from './packet.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const captures = readdirSync(fixtures)
  .filter((f) => f.endsWith('.pcap'))
  .sort()

/** Every DHCP payload in a capture, with where it went. */
export function dhcpPayloads(file: string): { label: string; payload: Uint8Array }[] {
  const pcap = readPcap(readFileSync(join(fixtures, file)))
  const out: { label: string; payload: Uint8Array }[] = []
  pcap.records.forEach((record, i) => {
    const udp = udpDatagram(pcap.linkType, record.data)
    if (udp === undefined) return
    out.push({
      label: `frame ${i + 1}: ${udp.srcIp}:${udp.srcPort} -> ${udp.dstIp}:${udp.dstPort} from ${udp.srcMac}, ${udp.payload.length} bytes`,
      payload: udp.payload,
    })
  })
  return out
}

test('the fixtures folder holds captures from udhcpc, dhclient, nmap and iPXE', () => {
  assert.deepEqual(captures, ['dhclient.pcap', 'ipxe-bios.pcap', 'nmap.pcap', 'udhcpc-pxe.pcap'])
})

for (const file of captures) {
  test(`decodeDhcp() decodes every packet of ${file} to the golden text`, () => {
    const payloads = dhcpPayloads(file)
    assert.ok(payloads.length >= 2, `${file} should hold a request and a reply`)
    const text = `${payloads.map(({ label, payload }) => `# ${label}\n${formatDhcp(decodeDhcp(payload))}\n`).join('\n')}`
    const golden = join(fixtures, file.replace(/\.pcap$/, '.parsed.txt'))
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text)
    assert.equal(text, readFileSync(golden, 'utf8'))
  })

  test(`decodeDhcp(encodeDhcp(decodeDhcp(x))) deep-equals decodeDhcp(x) for ${file}`, () => {
    for (const { label, payload } of dhcpPayloads(file)) {
      const first = decodeDhcp(payload)
      assert.deepEqual(decodeDhcp(encodeDhcp(first)), first, label)
    }
  })
}

test('encodeDhcp() reproduces the BOOTP header and cookie of a real udhcpc DISCOVER byte for byte', () => {
  // udhcpc orders its options as it added them, ours are sorted: compare the fixed part.
  const payload = dhcpPayloads('udhcpc-pxe.pcap')[0]?.payload
  assert.ok(payload)
  const again = encodeDhcp(decodeDhcp(payload))
  assert.deepEqual(again.subarray(0, 240), payload.subarray(0, 240))
})
