import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LinkType, PcapError, readPcap, udpDatagram } from './reader.ts'

/** One Ethernet/IPv4/UDP frame 10.0.0.1:68 -> 255.255.255.255:67 carrying `payload`. */
function frame(payload: number[]): Uint8Array {
  const udpLength = 8 + payload.length
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00],
    ...[0x45, 0, 0, 20 + udpLength, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 255, 255, 255, 255],
    ...[0, 68, 0, 67, 0, udpLength, 0, 0],
    ...payload,
  ])
}

function pcap(little: boolean, frames: Uint8Array[]): Uint8Array {
  const parts: number[] = []
  const u32 = (v: number) => {
    const b = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]
    parts.push(...(little ? b.reverse() : b))
  }
  const u16 = (v: number) => parts.push(...(little ? [v & 255, v >>> 8] : [v >>> 8, v & 255]))
  u32(0xa1b2c3d4)
  u16(2)
  u16(4)
  u32(0)
  u32(0)
  u32(65535)
  u32(LinkType.Ethernet)
  frames.forEach((f, i) => {
    u32(1700000000 + i)
    u32(250)
    u32(f.length)
    u32(f.length)
    parts.push(...f)
  })
  return Uint8Array.from(parts)
}

test('readPcap() reads records in both byte orders, and udpDatagram() finds the UDP payload', () => {
  for (const little of [true, false]) {
    const file = readPcap(pcap(little, [frame([1, 2, 3]), frame([4])]))
    assert.equal(file.linkType, LinkType.Ethernet)
    assert.equal(file.records.length, 2)
    assert.equal(file.records[1]?.timestampMicros, 1700000001 * 1e6 + 250)
    const udp = udpDatagram(file.linkType, file.records[0]?.data as Uint8Array)
    assert.deepEqual(udp, {
      srcMac: '02:00:00:00:00:01',
      srcIp: '10.0.0.1',
      dstIp: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: Uint8Array.of(1, 2, 3),
    })
  }
})

test('readPcap() rejects a file with an unknown magic or a truncated record', () => {
  assert.throws(() => readPcap(new Uint8Array(24)), PcapError)
  const whole = pcap(true, [frame([1, 2, 3])])
  assert.throws(() => readPcap(whole.subarray(0, whole.length - 1)), /declares 45 bytes past the end/)
})

test('udpDatagram() returns undefined for non-UDP and truncated frames', () => {
  const f = frame([1])
  assert.equal(udpDatagram(LinkType.Ethernet, f.subarray(0, 30)), undefined)
  const tcp = f.slice()
  tcp[14 + 9] = 6
  assert.equal(udpDatagram(LinkType.Ethernet, tcp), undefined)
  assert.equal(udpDatagram(999, f), undefined)
})
