import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { readPcap, udpDatagram } from '../pcap/index.ts'
import { DhcpOption, MessageType } from './options.ts'
import {
  DhcpDecodeError,
  DhcpOptions,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  optIp,
  optString,
  optUint8,
  optUint16,
} from './packet.ts'

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

function packet(options: [number, Uint8Array][], fields: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: Uint8Array.of(2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    sname: '',
    file: '',
    options: new DhcpOptions(options),
    ...fields,
  }
}

/** A valid 240-byte header + given option bytes. */
function withOptionBytes(optionBytes: number[], header: (b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(240 + optionBytes.length)
  b[0] = 1
  b[1] = 1
  b[2] = 6
  b.set([99, 130, 83, 99], 236)
  b.set(optionBytes, 240)
  header(b)
  return b
}

function decodeError(bytes: Uint8Array): DhcpDecodeError {
  try {
    decodeDhcp(bytes)
  } catch (error) {
    assert.ok(error instanceof DhcpDecodeError, `expected DhcpDecodeError, got ${String(error)}`)
    return error
  }
  assert.fail('expected decodeDhcp() to throw')
}

test('decodeDhcp() rejects packets shorter than 240 bytes (BOOTP header and magic cookie)', () => {
  const e = decodeError(new Uint8Array(239))
  assert.equal(e.code, 'DHCP_TOO_SHORT')
  assert.equal(
    e.message,
    'Cannot parse DHCP packet: it has 239 bytes, fewer than the 240 of a BOOTP header and magic cookie',
  )
})

test('decodeDhcp() rejects a packet whose magic cookie is not 99.130.83.99 (plain BOOTP)', () => {
  const b = withOptionBytes([53, 1, 1, 255])
  b[239] = 0
  assert.equal(decodeError(b).code, 'DHCP_BAD_MAGIC_COOKIE')
})

test('decodeDhcp() rejects an options section not terminated by 0xff', () => {
  const e = decodeError(withOptionBytes([53, 1, 1, 0, 0]))
  assert.equal(e.code, 'DHCP_OPTIONS_NOT_TERMINATED')
  assert.equal(e.message, 'Cannot parse DHCP packet: options section is not terminated by 0xff')
})

test('decodeDhcp() rejects an option whose length runs past the end of the packet', () => {
  const cases = [
    { bytes: [53, 5, 1], code: 'DHCP_OPTION_TRUNCATED' },
    { bytes: [53], code: 'DHCP_OPTION_TRUNCATED' },
  ]
  for (const { bytes, code } of cases) assert.equal(decodeError(withOptionBytes(bytes)).code, code)
})

test('decodeDhcp() skips Pad bytes and ignores anything after End', () => {
  const p = decodeDhcp(withOptionBytes([0, 0, 53, 1, 3, 255, 61, 99, 1]))
  assert.deepEqual([...p.options.raw.keys()], [53])
  assert.equal(p.options.uint8(DhcpOption.MessageType), MessageType.Request)
})

test('decodeDhcp() concatenates repeated options in order (RFC 3396)', () => {
  const p = decodeDhcp(withOptionBytes([67, 2, 0x61, 0x62, 53, 1, 1, 67, 1, 0x63, 255]))
  assert.equal(p.options.string(DhcpOption.BootfileName), 'abc')
})

test('decodeDhcp() reads options from file and sname when option 52 overloads them, in RFC 2131 §4.1 order', () => {
  const b = withOptionBytes([52, 1, 3, 53, 1, 1, 67, 1, 0x61, 255], (h) => {
    h.set([67, 1, 0x62, 12, 1, 0x66, 255], 108) // file: more of 67, and 12
    h.set([67, 1, 0x63, 255], 44) // sname: the last part of 67
  })
  const p = decodeDhcp(b)
  assert.equal(p.options.string(DhcpOption.BootfileName), 'abc')
  assert.equal(p.options.string(DhcpOption.HostName), 'f')
  assert.equal(p.file, '')
  assert.equal(p.sname, '')
  assert.equal(p.options.has(DhcpOption.OptionOverload), false)
})

test('decodeDhcp() rejects an overload value other than 1, 2 or 3, and an unterminated overloaded field', () => {
  assert.equal(decodeError(withOptionBytes([52, 1, 4, 255])).code, 'DHCP_BAD_OVERLOAD')
  const unterminated = withOptionBytes([52, 1, 2, 255], (h) => h.fill(0, 44, 108))
  assert.equal(decodeError(unterminated).code, 'DHCP_OPTIONS_NOT_TERMINATED')
})

test('decodeDhcp() reads sname and file up to their first NUL', () => {
  const b = withOptionBytes([53, 1, 1, 255], (h) => {
    h.set(optString('server'), 44)
    h.set(optString('bios/core.0'), 108)
    h[120] = 0x78 // after the NUL: ignored
  })
  const p = decodeDhcp(b)
  assert.equal(p.sname, 'server')
  assert.equal(p.file, 'bios/core.0')
})

test('DhcpOptions typed getters fail on a wrong size, with the option named', () => {
  const o = new DhcpOptions([
    [53, Uint8Array.of(1, 2)],
    [54, Uint8Array.of(10, 0, 0)],
    [93, Uint8Array.of(0, 7, 0)],
    [3, new Uint8Array(0)],
  ])
  assert.throws(() => o.uint8(53), {
    code: 'DHCP_OPTION_WRONG_SIZE',
    message: 'Cannot read DHCP option 53 (DHCP Message Type): expected 1 byte, got 2',
  })
  assert.throws(() => o.ip(54), { code: 'DHCP_OPTION_WRONG_SIZE' })
  assert.throws(() => o.uint16s(93), { code: 'DHCP_OPTION_WRONG_SIZE' })
  assert.throws(() => o.ips(3), { code: 'DHCP_OPTION_WRONG_SIZE' })
  assert.equal(o.uint32(51), undefined)
})

test('DhcpOptions.string() drops trailing NULs that some firmware sends', () => {
  const o = new DhcpOptions([[60, optString('PXEClient\0')]])
  assert.equal(o.string(60), 'PXEClient')
})

test('encodeDhcp() writes option 53 first, the rest sorted, End, then pads to 300 bytes', () => {
  const wire = encodeDhcp(
    packet([
      [DhcpOption.ServerIdentifier, optIp(0x0a000001)],
      [DhcpOption.ClientSystemArchitecture, optUint16(7)],
      [DhcpOption.MessageType, optUint8(MessageType.Offer)],
      [DhcpOption.SubnetMask, optIp(0xffffff00)],
    ]),
  )
  assert.equal(wire.length, 300)
  assert.equal(hex(wire.subarray(236, 240)), '63825363')
  assert.equal(hex(wire.subarray(240, 260)), `350102${'0104ffffff00'}${'36040a000001'}${'5d020007'}ff`)
  assert.ok(wire.subarray(260).every((b) => b === 0))
})

test('encodeDhcp() is deterministic whatever order the options were set in', () => {
  const a = packet([
    [60, optString('PXEClient')],
    [53, optUint8(2)],
    [67, optString('x')],
  ])
  const b = packet([
    [67, optString('x')],
    [60, optString('PXEClient')],
    [53, optUint8(2)],
  ])
  assert.equal(hex(encodeDhcp(a)), hex(encodeDhcp(b)))
})

test('encodeDhcp() splits an option longer than 255 bytes into consecutive instances (RFC 3396 §7)', () => {
  const long = new Uint8Array(600).map((_, i) => i & 255)
  const wire = encodeDhcp(packet([[43, long]]))
  assert.deepEqual([wire[240], wire[241]], [43, 255])
  assert.deepEqual([wire[240 + 257], wire[240 + 258]], [43, 255])
  assert.deepEqual([wire[240 + 514], wire[240 + 515]], [43, 90])
  assert.equal(wire[240 + 516 + 90], 255)
  assert.deepEqual(decodeDhcp(wire).options.get(43), long)
})

test('encodeDhcp() refuses values that do not fit their fields', () => {
  assert.throws(() => encodeDhcp(packet([], { file: 'x'.repeat(129) })), RangeError)
  assert.throws(() => encodeDhcp(packet([], { sname: 'é€' })), RangeError)
  assert.throws(() => encodeDhcp(packet([[52, optUint8(1)]])), RangeError)
})

// ---------------------------------------------------------------------------------------
// Property tests: the decoder never throws anything but DhcpDecodeError and never hangs.

function decodesOrRejects(bytes: Uint8Array): void {
  try {
    const p = decodeDhcp(bytes)
    // Whatever decodes must survive the round trip.
    assert.deepEqual(decodeDhcp(encodeDhcp(p)), p)
  } catch (error) {
    if (!(error instanceof DhcpDecodeError)) throw error
  }
}

test('decodeDhcp() on arbitrary bytes returns a packet or throws DhcpDecodeError, nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), (bytes) => decodesOrRejects(bytes)),
    { numRuns: 3000 },
  )
})

test('decodeDhcp() on arbitrary option bytes after a valid header returns a packet or throws DhcpDecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 4 }), (tail, overload) => {
      const b = withOptionBytes(overload > 0 ? [52, 1, overload, ...tail] : [...tail])
      decodesOrRejects(b)
    }),
    { numRuns: 3000 },
  )
})

test('decodeDhcp() on mutated real packets returns a packet or throws DhcpDecodeError', () => {
  const fixtures = join(import.meta.dirname, 'fixtures')
  const real: Uint8Array[] = []
  for (const file of ['udhcpc-pxe.pcap', 'ipxe-bios.pcap', 'dhclient.pcap', 'nmap.pcap']) {
    const pcap = readPcap(readFileSync(join(fixtures, file)))
    for (const r of pcap.records) {
      const udp = udpDatagram(pcap.linkType, r.data)
      if (udp) real.push(udp.payload)
    }
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: real.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      (which, flips, cut) => {
        const b = (real[which] as Uint8Array).slice()
        for (const [at, value] of flips) b[240 + (at % (b.length - 240))] = value
        decodesOrRejects(b.subarray(0, b.length - (cut % 40)))
      },
    ),
    { numRuns: 3000 },
  )
})
