/**
 * A small, pure reader for classic libpcap files (what `tcpdump -w` writes) and the
 * UDP datagrams inside them. Enough for golden tests; not a general packet dissector.
 *
 * Format: a 24-byte global header (magic, version, snaplen, link type), then records
 * of a 16-byte header (seconds, sub-seconds, captured length, original length) and the
 * captured bytes. The magic gives the byte order and whether sub-seconds are micro- or
 * nanoseconds. See https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03.html
 */

export const LinkType = { Ethernet: 1, LinuxSll: 113 } as const

export interface PcapRecord {
  /** Capture time in microseconds since the epoch. */
  readonly timestampMicros: number
  readonly originalLength: number
  readonly data: Uint8Array
}

export interface PcapFile {
  readonly linkType: number
  readonly records: readonly PcapRecord[]
}

export class PcapError extends Error {
  readonly code = 'PCAP_MALFORMED'
  override name = 'PcapError'
}

const GLOBAL_HEADER = 24
const RECORD_HEADER = 16

export function readPcap(input: Uint8Array): PcapFile {
  // A Buffer's slice() is a view: read through a plain Uint8Array so records are copies.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.length)
  if (bytes.length < GLOBAL_HEADER) {
    throw new PcapError(`Cannot read pcap file: it has ${bytes.length} bytes, fewer than the 24-byte header`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magicBig = view.getUint32(0, false)
  let little: boolean
  let nanos: boolean
  if (magicBig === 0xa1b2c3d4 || magicBig === 0xa1b23c4d) {
    little = false
    nanos = magicBig === 0xa1b23c4d
  } else if (magicBig === 0xd4c3b2a1 || magicBig === 0x4d3cb2a1) {
    little = true
    nanos = magicBig === 0x4d3cb2a1
  } else {
    throw new PcapError(
      `Cannot read pcap file: magic is 0x${magicBig.toString(16)}, not a libpcap magic (pcapng is not supported)`,
    )
  }
  const linkType = view.getUint32(20, little) & 0xffff
  const records: PcapRecord[] = []
  let at = GLOBAL_HEADER
  while (at < bytes.length) {
    if (at + RECORD_HEADER > bytes.length) {
      throw new PcapError(`Cannot read pcap file: record header at offset ${at} is truncated`)
    }
    const seconds = view.getUint32(at, little)
    const fraction = view.getUint32(at + 4, little)
    const captured = view.getUint32(at + 8, little)
    const original = view.getUint32(at + 12, little)
    const start = at + RECORD_HEADER
    if (start + captured > bytes.length) {
      throw new PcapError(
        `Cannot read pcap file: record at offset ${at} declares ${captured} bytes past the end`,
      )
    }
    records.push({
      timestampMicros: seconds * 1e6 + (nanos ? Math.floor(fraction / 1000) : fraction),
      originalLength: original,
      data: bytes.slice(start, start + captured),
    })
    at = start + captured
  }
  return { linkType, records }
}

export interface UdpDatagram {
  readonly srcMac: string
  readonly srcIp: string
  readonly dstIp: string
  readonly srcPort: number
  readonly dstPort: number
  readonly payload: Uint8Array
}

function mac(b: Uint8Array, at: number): string {
  return Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':')
}

function ip(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`
}

/**
 * The IPv4/UDP datagram in a captured frame, or undefined when the frame is something
 * else (ARP, IPv6, TCP, a fragment) or is truncated.
 */
export function udpDatagram(linkType: number, input: Uint8Array): UdpDatagram | undefined {
  const frame = new Uint8Array(input.buffer, input.byteOffset, input.length)
  let etherType: number
  let ipStart: number
  let srcMac: string
  if (linkType === LinkType.Ethernet) {
    if (frame.length < 14) return undefined
    srcMac = mac(frame, 6)
    etherType = ((frame[12] as number) << 8) | (frame[13] as number)
    ipStart = 14
    if (etherType === 0x8100 && frame.length >= 18) {
      etherType = ((frame[16] as number) << 8) | (frame[17] as number)
      ipStart = 18
    }
  } else if (linkType === LinkType.LinuxSll) {
    if (frame.length < 16) return undefined
    srcMac = mac(frame, 6)
    etherType = ((frame[14] as number) << 8) | (frame[15] as number)
    ipStart = 16
  } else {
    return undefined
  }
  if (etherType !== 0x0800 || frame.length < ipStart + 20) return undefined
  const versionIhl = frame[ipStart] as number
  if (versionIhl >> 4 !== 4) return undefined
  const ihl = (versionIhl & 15) * 4
  const fragment = (((frame[ipStart + 6] as number) << 8) | (frame[ipStart + 7] as number)) & 0x3fff
  if (ihl < 20 || fragment !== 0 || frame[ipStart + 9] !== 17) return undefined
  const udpStart = ipStart + ihl
  if (frame.length < udpStart + 8) return undefined
  const udpLength = ((frame[udpStart + 4] as number) << 8) | (frame[udpStart + 5] as number)
  if (udpLength < 8 || udpStart + udpLength > frame.length) return undefined
  return {
    srcMac,
    srcIp: ip(frame, ipStart + 12),
    dstIp: ip(frame, ipStart + 16),
    srcPort: ((frame[udpStart] as number) << 8) | (frame[udpStart + 1] as number),
    dstPort: ((frame[udpStart + 2] as number) << 8) | (frame[udpStart + 3] as number),
    payload: frame.slice(udpStart + 8, udpStart + udpLength),
  }
}
