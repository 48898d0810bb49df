/** The pure DHCP reply builders: request + decision + server facts in, packet and destination out. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BootOp,
  BROADCAST_FLAG,
  DhcpOption,
  DhcpOptions,
  type DhcpPacket,
  encodeDhcp,
  MessageType,
  optString,
  optUint8,
} from '../../lib/dhcp4/index.ts'
import { macToBytes, parseIPv4 } from '../../lib/ipv4/index.ts'
import type { BootReply } from './boot-decision.ts'
import {
  buildAck,
  buildInformAck,
  buildNak,
  buildOffer,
  buildProxyReply,
  buildReply,
  leaseOptions,
  type ServerFacts,
} from './dhcp-reply.ts'

const ip = (s: string) => parseIPv4(s) as number
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

const FACTS: ServerFacts = {
  server: ip('10.0.0.2'),
  leaseSeconds: 600,
  mask: ip('255.255.255.0'),
  gateway: ip('10.0.0.1'),
  dns: [ip('10.0.0.1'), ip('9.9.9.9')],
  clientPort: 68,
  serverPort: 67,
}
const PXE_BOOT: BootReply = { row: 2, protocol: 'tftp', vendorClass: 'PXEClient', file: 'ipxe.efi' }

function request(fields: Partial<DhcpPacket> = {}, extra: [number, Uint8Array][] = []): DhcpPacket {
  const chaddr = new Uint8Array(16)
  chaddr.set(macToBytes('02:00:00:00:00:01'))
  return {
    op: BootOp.Request,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid: 0x01020304,
    secs: 9,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr,
    sname: 'x',
    file: 'y',
    options: new DhcpOptions([[DhcpOption.MessageType, optUint8(MessageType.Discover)], ...extra]),
    ...fields,
  }
}

test('leaseOptions() gives lease time, T1 = 1/2, T2 = 7/8, mask, router and DNS, in that order', () => {
  assert.deepEqual(
    leaseOptions(FACTS).map(([code, value]) => [code, hex(value)]),
    [
      [51, '00000258'],
      [58, '0000012c'],
      [59, '0000020d'],
      [1, 'ffffff00'],
      [3, '0a000001'],
      [6, '0a00000109090909'],
    ],
  )
  assert.deepEqual(
    leaseOptions({ ...FACTS, mask: undefined, gateway: undefined, dns: [] }).map(([code]) => code),
    [51, 58, 59],
  )
})

test('buildReply() copies xid, flags, giaddr and chaddr, zeroes hops and secs, and encodes options in order', () => {
  const req = request({ flags: BROADCAST_FLAG, giaddr: ip('10.0.1.1') })
  const packet = buildReply(req, MessageType.Offer, ip('10.0.0.50'), [], undefined, FACTS.server)
  assert.equal(packet.op, BootOp.Reply)
  assert.equal(packet.xid, 0x01020304)
  assert.equal(packet.flags, BROADCAST_FLAG)
  assert.equal(packet.giaddr, ip('10.0.1.1'))
  assert.equal(packet.chaddr, req.chaddr)
  assert.deepEqual([packet.hops, packet.secs, packet.siaddr, packet.sname, packet.file], [0, 0, 0, '', ''])
  // Options start after the 236-byte header and the 4-byte magic cookie: 53=2, 54=server, end.
  assert.equal(hex(encodeDhcp(packet).subarray(240, 250)), '350102' + '36040a000002' + 'ff')
})

test('buildReply() with boot information sets siaddr, file, options 60/67, 43 for PXEClient, and echoes 97', () => {
  const guid = Uint8Array.of(0, ...new Uint8Array(16).fill(7))
  const req = request({}, [[DhcpOption.ClientMachineIdentifier, guid]])
  const packet = buildReply(req, MessageType.Ack, 0, [], PXE_BOOT, FACTS.server)
  assert.equal(packet.siaddr, FACTS.server)
  assert.equal(packet.file, 'ipxe.efi')
  assert.equal(packet.options.string(DhcpOption.VendorClassIdentifier), 'PXEClient')
  assert.equal(packet.options.string(DhcpOption.BootfileName), 'ipxe.efi')
  assert.equal(hex(packet.options.get(DhcpOption.VendorSpecific) as Uint8Array), '060108ff')
  assert.deepEqual(packet.options.get(DhcpOption.ClientMachineIdentifier), guid)
  const http = buildReply(
    req,
    MessageType.Ack,
    0,
    [],
    { row: 4, protocol: 'http', vendorClass: 'HTTPClient', file: 'http://10.0.0.2/x.efi' },
    FACTS.server,
  )
  assert.equal(http.options.get(DhcpOption.VendorSpecific), undefined, 'no option 43 for HTTP boot')
})

test('buildOffer() and buildAck() carry the address and lease options, broadcast before the client has an address', () => {
  const offer = buildOffer(request(), ip('10.0.0.50'), undefined, FACTS)
  assert.deepEqual([offer.address, offer.port, offer.via], ['255.255.255.255', 68, 'server'])
  assert.equal(offer.packet.yiaddr, ip('10.0.0.50'))
  assert.equal(offer.packet.options.uint8(DhcpOption.MessageType), MessageType.Offer)
  assert.equal(offer.packet.options.uint32(DhcpOption.LeaseTime), 600)
  const ack = buildAck(request({ ciaddr: ip('10.0.0.50') }), ip('10.0.0.50'), PXE_BOOT, FACTS)
  assert.deepEqual([ack.address, ack.port], ['10.0.0.50', 68], 'renewing: unicast to ciaddr')
  assert.equal(ack.packet.options.uint8(DhcpOption.MessageType), MessageType.Ack)
  assert.equal(ack.packet.ciaddr, ip('10.0.0.50'))
  const relayed = buildAck(request({ giaddr: ip('10.0.1.1') }), ip('10.0.1.50'), undefined, FACTS)
  assert.deepEqual([relayed.address, relayed.port, relayed.packet.flags], ['10.0.1.1', 67, 0])
})

test('buildInformAck() carries configuration but no address and no lease times', () => {
  const ack = buildInformAck(request({ ciaddr: ip('10.0.0.60') }), undefined, FACTS)
  assert.equal(ack.packet.yiaddr, 0)
  assert.deepEqual([ack.address, ack.port], ['10.0.0.60', 68])
  assert.deepEqual(
    [...ack.packet.options.raw.keys()].sort((a, b) => a - b),
    [1, 3, 6, 53, 54],
  )
})

test('buildNak() clears ciaddr, says why in option 56, broadcasts, and sets the broadcast flag through a relay', () => {
  const nak = buildNak(
    request({ ciaddr: ip('10.0.0.60') }),
    'address 10.0.0.60 is not yours; ask again',
    FACTS,
  )
  assert.deepEqual(
    [nak.address, nak.port, nak.packet.ciaddr, nak.packet.yiaddr],
    ['255.255.255.255', 68, 0, 0],
  )
  assert.equal(nak.packet.options.uint8(DhcpOption.MessageType), MessageType.Nak)
  assert.deepEqual(
    nak.packet.options.get(DhcpOption.Message),
    optString('address 10.0.0.60 is not yours; ask again'),
  )
  const bare = buildNak(request({ giaddr: ip('10.0.1.1') }), undefined, FACTS)
  assert.equal(bare.packet.options.get(DhcpOption.Message), undefined)
  assert.equal(bare.packet.options.ip(DhcpOption.ServerIdentifier), FACTS.server, 'udhcpc needs option 54')
  assert.deepEqual([bare.address, bare.port, bare.packet.flags], ['10.0.1.1', 67, BROADCAST_FLAG])
})

test('buildProxyReply() gives boot information without an address or lease options, unicast back on 4011', () => {
  const offer = buildProxyReply(request(), MessageType.Offer, PXE_BOOT, FACTS)
  assert.deepEqual([offer.address, offer.port, offer.via], ['255.255.255.255', 68, 'server'])
  assert.equal(offer.packet.yiaddr, 0)
  assert.deepEqual(
    [...offer.packet.options.raw.keys()].sort((a, b) => a - b),
    [43, 53, 54, 60, 67],
  )
  const ack = buildProxyReply(request(), MessageType.Ack, PXE_BOOT, FACTS, {
    address: '10.0.0.77',
    port: 4011,
  })
  assert.deepEqual([ack.address, ack.port, ack.via], ['10.0.0.77', 4011, 'proxy'])
  assert.equal(ack.packet.options.uint8(DhcpOption.MessageType), MessageType.Ack)
})
