/** The DHCP protocol logic (createDhcpHandler) without sockets: packets in, replies out. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BootOp,
  DhcpOption,
  DhcpOptions,
  decodeDhcp,
  encodeDhcp,
  MessageType,
  optIp,
  optString,
  optUint8,
  optUint16,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4, macToBytes, parseIPv4 } from '../../lib/ipv4/index.ts'
import { createDhcpHandler, DhcpConfigError, type DhcpReply, type DhcpServerOptions } from './dhcp.ts'
import type { BootEvent } from './events.ts'

const SERVER = '10.0.0.2'
const ROUTER = '10.0.0.1'
const machines = [
  { name: 'node1', mac: '02:00:00:00:00:01', ip: '10.0.0.50' },
  { name: 'node2', mac: '02:00:00:00:00:02', ip: '10.0.0.101' },
]
const directory = {
  byMac: (mac: string) => machines.find((m) => m.mac === mac),
  byIp: (ip: string) => machines.find((m) => m.ip === ip),
}
const ip = (s: string) => parseIPv4(s) as number

interface ClientOptions {
  type: number
  mac?: string
  xid?: number
  vendor?: string
  arch?: number
  userClass?: string
  requested?: string
  serverId?: string
  ciaddr?: string
  giaddr?: string
  guid?: boolean
}

function clientPacket(c: ClientOptions): Uint8Array {
  const chaddr = new Uint8Array(16)
  chaddr.set(macToBytes(c.mac ?? machines[0]?.mac ?? ''))
  const options: [number, Uint8Array][] = [[DhcpOption.MessageType, optUint8(c.type)]]
  if (c.vendor !== undefined) options.push([DhcpOption.VendorClassIdentifier, optString(c.vendor)])
  if (c.arch !== undefined) options.push([DhcpOption.ClientSystemArchitecture, optUint16(c.arch)])
  if (c.userClass !== undefined) options.push([DhcpOption.UserClass, optString(c.userClass)])
  if (c.requested !== undefined) options.push([DhcpOption.RequestedIpAddress, optIp(ip(c.requested))])
  if (c.serverId !== undefined) options.push([DhcpOption.ServerIdentifier, optIp(ip(c.serverId))])
  if (c.guid === true)
    options.push([DhcpOption.ClientMachineIdentifier, Uint8Array.of(0, ...new Uint8Array(16).fill(7))])
  return encodeDhcp({
    op: BootOp.Request,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: c.xid ?? 0xabcd,
    secs: 0,
    flags: 0,
    ciaddr: c.ciaddr === undefined ? 0 : ip(c.ciaddr),
    yiaddr: 0,
    siaddr: 0,
    giaddr: c.giaddr === undefined ? 0 : ip(c.giaddr),
    chaddr,
    sname: '',
    file: '',
    options: new DhcpOptions(options),
  })
}

const PXE = { vendor: 'PXEClient:Arch:00007:UNDI:003016', arch: 7 }

function setup(options: Partial<DhcpServerOptions> = {}, now = () => 1_000_000) {
  const events: BootEvent[] = []
  const handler = createDhcpHandler(
    {
      interface: 'eth0',
      serverAddress: SERVER,
      mode: 'full',
      machines: directory,
      subnetMask: '255.255.255.0',
      gateway: ROUTER,
      dns: [ROUTER],
      leaseSeconds: 600,
      events: (e) => events.push(e),
      ...options,
    },
    now,
  )
  const send = (
    c: ClientOptions,
    via: 'server' | 'proxy' = 'server',
    from = { address: '0.0.0.0', port: 68 },
  ) => handler.handle({ bytes: clientPacket(c), ...from, via })
  return { events, send, handle: handler.handle }
}

function only(replies: DhcpReply[]): DhcpReply {
  assert.equal(replies.length, 1, `expected one reply, got ${replies.length}`)
  // Every reply must survive the wire.
  const reply = replies[0] as DhcpReply
  assert.deepEqual(decodeDhcp(encodeDhcp(reply.packet)), { ...reply.packet, chaddr: reply.packet.chaddr })
  return reply
}

function summary(r: DhcpReply) {
  const o = r.packet.options
  return {
    to: `${r.address}:${r.port}/${r.via}`,
    type: o.uint8(DhcpOption.MessageType),
    yiaddr: formatIPv4(r.packet.yiaddr),
    siaddr: formatIPv4(r.packet.siaddr),
    serverId: formatIPv4(o.ip(DhcpOption.ServerIdentifier) ?? 0),
    file: r.packet.file,
    bootfile: o.string(DhcpOption.BootfileName),
    vendorClass: o.string(DhcpOption.VendorClassIdentifier),
    pxe43:
      o.get(DhcpOption.VendorSpecific) === undefined
        ? undefined
        : Buffer.from(o.get(43) as Uint8Array).toString('hex'),
  }
}

test('createDhcpHandler() full mode: a configured UEFI PXE client is offered its address and the boot file', () => {
  const { send } = setup()
  const offer = only(send({ type: MessageType.Discover, ...PXE, guid: true }))
  assert.deepEqual(summary(offer), {
    to: '255.255.255.255:68/server',
    type: MessageType.Offer,
    yiaddr: '10.0.0.50',
    siaddr: SERVER,
    serverId: SERVER,
    file: 'uefi/shimx64.efi',
    bootfile: 'uefi/shimx64.efi',
    vendorClass: 'PXEClient',
    pxe43: '060108ff',
  })
  const o = offer.packet.options
  assert.equal(formatIPv4(o.ip(DhcpOption.SubnetMask) as number), '255.255.255.0')
  assert.deepEqual(o.ips(DhcpOption.Router)?.map(formatIPv4), [ROUTER])
  assert.deepEqual(o.ips(DhcpOption.DomainNameServer)?.map(formatIPv4), [ROUTER])
  assert.deepEqual([o.uint32(51), o.uint32(58), o.uint32(59)], [600, 300, 525])
  assert.equal(o.get(DhcpOption.ClientMachineIdentifier)?.length, 17, 'option 97 is echoed')
  assert.equal(offer.packet.xid, 0xabcd)
})

test('createDhcpHandler() full mode: ACKs a REQUEST for the configured address and NAKs any other', () => {
  const { send } = setup()
  const ack = only(send({ type: MessageType.Request, ...PXE, requested: '10.0.0.50', serverId: SERVER }))
  assert.equal(summary(ack).type, MessageType.Ack)
  assert.equal(summary(ack).yiaddr, '10.0.0.50')
  const nak = only(send({ type: MessageType.Request, ...PXE, requested: '10.0.0.77' }))
  assert.deepEqual(
    [summary(nak).type, summary(nak).yiaddr, summary(nak).serverId, summary(nak).file, nak.address],
    [MessageType.Nak, '0.0.0.0', SERVER, '', '255.255.255.255'],
  )
})

test('createDhcpHandler() full mode: stays silent for a REQUEST that chose another server (RFC 2131 §4.3.2)', () => {
  const { send } = setup()
  assert.deepEqual(send({ type: MessageType.Request, requested: '10.0.0.50', serverId: ROUTER }), [])
})

test('createDhcpHandler() full mode: a renewing client (ciaddr set) is answered unicast', () => {
  const { send } = setup()
  const ack = only(send({ type: MessageType.Request, ciaddr: '10.0.0.50' }))
  assert.equal(ack.address, '10.0.0.50')
  assert.equal(ack.port, 68)
})

test('createDhcpHandler() full mode: relayed requests are answered to the relay on port 67', () => {
  const { send } = setup()
  const offer = only(send({ type: MessageType.Discover, ...PXE, giaddr: '10.0.0.254' }))
  assert.equal(`${offer.address}:${offer.port}`, '10.0.0.254:67')
})

test('createDhcpHandler() full mode: a configured machine that does not netboot gets a lease without boot information', () => {
  const { send } = setup()
  const offer = only(send({ type: MessageType.Discover }))
  assert.deepEqual(
    [summary(offer).yiaddr, summary(offer).siaddr, summary(offer).file, summary(offer).bootfile],
    ['10.0.0.50', '0.0.0.0', '', undefined],
  )
})

test('createDhcpHandler() full mode: an unknown MAC without a dynamic range is not answered and reported once', () => {
  const { send, events } = setup()
  assert.deepEqual(send({ type: MessageType.Discover, mac: '02:00:00:00:09:09', ...PXE }), [])
  assert.deepEqual(send({ type: MessageType.Discover, mac: '02:00:00:00:09:09', ...PXE }), [])
  assert.deepEqual(events, [
    {
      type: 'dhcp.ignored',
      mac: '02:00:00:00:09:09',
      reason: 'not in the machine directory: not answered (no dynamic range)',
    },
  ])
})

test('createDhcpHandler() full mode: dynamic leases skip configured addresses, stick to a MAC, and free on RELEASE', () => {
  const { send } = setup({ dynamicRange: { start: '10.0.0.100', end: '10.0.0.102' } })
  const a = '02:00:00:00:0a:01'
  const b = '02:00:00:00:0b:01'
  const c = '02:00:00:00:0c:01'
  const offerA = only(send({ type: MessageType.Discover, mac: a, ...PXE }))
  assert.equal(summary(offerA).yiaddr, '10.0.0.100')
  assert.equal(summary(offerA).file, '', 'never boot information for an unknown MAC')
  assert.equal(summary(offerA).bootfile, undefined)
  assert.equal(
    summary(only(send({ type: MessageType.Request, mac: a, requested: '10.0.0.100', serverId: SERVER })))
      .type,
    MessageType.Ack,
  )
  // 10.0.0.101 belongs to node2 in the directory: skipped.
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: b }))).yiaddr, '10.0.0.102')
  assert.deepEqual(send({ type: MessageType.Discover, mac: c }), [], 'the range is full')
  assert.equal(
    summary(only(send({ type: MessageType.Discover, mac: a }))).yiaddr,
    '10.0.0.100',
    'same MAC, same address',
  )
  send({ type: MessageType.Release, mac: a, ciaddr: '10.0.0.100' })
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: c }))).yiaddr, '10.0.0.100')
})

test('createDhcpHandler() full mode: an offered dynamic address is freed when the client picks another server, and leases expire', () => {
  let t = 0
  const { send } = setup({ dynamicRange: { start: '10.0.0.100', end: '10.0.0.100' } }, () => t)
  const a = '02:00:00:00:0a:01'
  const b = '02:00:00:00:0b:01'
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: a }))).yiaddr, '10.0.0.100')
  send({ type: MessageType.Request, mac: a, requested: '10.0.0.100', serverId: ROUTER })
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: b }))).yiaddr, '10.0.0.100')
  only(send({ type: MessageType.Request, mac: b, requested: '10.0.0.100', serverId: SERVER }))
  assert.deepEqual(send({ type: MessageType.Discover, mac: a }), [], 'bound to b')
  t += 601_000
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: a }))).yiaddr, '10.0.0.100', 'b expired')
})

test('createDhcpHandler() full mode: a declined address is not offered again', () => {
  const { send, events } = setup({ dynamicRange: { start: '10.0.0.110', end: '10.0.0.111' } })
  const a = '02:00:00:00:0a:01'
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: a }))).yiaddr, '10.0.0.110')
  send({ type: MessageType.Decline, mac: a, requested: '10.0.0.110', serverId: SERVER })
  assert.equal(summary(only(send({ type: MessageType.Discover, mac: a }))).yiaddr, '10.0.0.111')
  assert.ok(events.some((e) => e.type === 'pxe.warning' && /10\.0\.0\.110/.test(e.message)))
})

test('createDhcpHandler() gives iPXE the boot.ipxe URL and UEFI HTTP boot an HTTPClient reply without option 43', () => {
  const { send } = setup()
  const ipxe = summary(only(send({ type: MessageType.Discover, ...PXE, userClass: 'iPXE' })))
  assert.equal(ipxe.bootfile, 'http://10.0.0.2/boot.ipxe')
  const http = summary(
    only(send({ type: MessageType.Discover, vendor: 'HTTPClient:Arch:00016:UNDI:003001', arch: 16 })),
  )
  assert.deepEqual(
    [http.bootfile, http.file, http.vendorClass, http.pxe43],
    ['http://10.0.0.2/uefi/shimx64.efi', 'http://10.0.0.2/uefi/shimx64.efi', 'HTTPClient', undefined],
  )
})

test('createDhcpHandler() warns once and gives no boot information for an architecture it has no file for', () => {
  const { send, events } = setup()
  const offer = summary(
    only(send({ type: MessageType.Discover, vendor: 'PXEClient:Arch:00011:UNDI:003016', arch: 11 })),
  )
  send({ type: MessageType.Discover, vendor: 'PXEClient:Arch:00011:UNDI:003016', arch: 11 })
  assert.equal(offer.bootfile, undefined)
  assert.equal(offer.yiaddr, '10.0.0.50', 'the lease is still given in full mode')
  const warnings = events.filter((e) => e.type === 'pxe.warning')
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]?.type === 'pxe.warning' ? warnings[0].message : '', /client architecture 11/)
})

test('createDhcpHandler() proxy mode: offers boot information without an address, to PXE clients only', () => {
  const { send } = setup({ mode: 'proxy' })
  const offer = summary(only(send({ type: MessageType.Discover, ...PXE, guid: true })))
  assert.deepEqual(offer, {
    to: '255.255.255.255:68/server',
    type: MessageType.Offer,
    yiaddr: '0.0.0.0',
    siaddr: SERVER,
    serverId: SERVER,
    file: 'uefi/shimx64.efi',
    bootfile: 'uefi/shimx64.efi',
    vendorClass: 'PXEClient',
    pxe43: '060108ff',
  })
  assert.deepEqual(
    send({ type: MessageType.Discover }),
    [],
    'a configured machine booting its OS is the router’s',
  )
})

test('createDhcpHandler() proxy mode: answers REQUESTs on 4011 unicast, on 67 only when they name us', () => {
  const { send } = setup({ mode: 'proxy' })
  const on4011 = only(
    send({ type: MessageType.Request, ...PXE, ciaddr: '10.0.0.120' }, 'proxy', {
      address: '10.0.0.120',
      port: 68,
    }),
  )
  assert.deepEqual(
    [summary(on4011).to, summary(on4011).type, summary(on4011).bootfile],
    ['10.0.0.120:68/proxy', MessageType.Ack, 'uefi/shimx64.efi'],
  )
  assert.deepEqual(send({ type: MessageType.Request, ...PXE, requested: '10.0.0.120', serverId: ROUTER }), [])
  const on67 = only(send({ type: MessageType.Request, ...PXE, serverId: SERVER }))
  assert.deepEqual(
    [summary(on67).type, summary(on67).yiaddr, summary(on67).bootfile],
    [MessageType.Ack, '0.0.0.0', 'uefi/shimx64.efi'],
  )
})

test('createDhcpHandler() proxy mode: a generic client asking us for an address gets a NAK, then no proxy offer for a while', () => {
  let t = 0
  const { send } = setup({ mode: 'proxy' }, () => t)
  const nak = only(send({ type: MessageType.Request, ...PXE, requested: '0.0.0.0', serverId: SERVER }))
  assert.equal(summary(nak).type, MessageType.Nak)
  assert.equal(summary(nak).serverId, SERVER, 'udhcpc ignores a NAK without our server id')
  assert.deepEqual(send({ type: MessageType.Discover, ...PXE }), [])
  t += 61_000
  assert.equal(summary(only(send({ type: MessageType.Discover, ...PXE }))).type, MessageType.Offer)
})

test('createDhcpHandler() proxy mode: an unknown PXE client is never answered and reported once', () => {
  const { send, events } = setup({ mode: 'proxy' })
  const mac = '02:00:00:00:09:09'
  assert.deepEqual(send({ type: MessageType.Discover, mac, ...PXE }), [])
  assert.deepEqual(send({ type: MessageType.Request, mac, ...PXE, serverId: SERVER }), [])
  assert.deepEqual(
    send({ type: MessageType.Request, mac, ...PXE }, 'proxy', { address: '10.0.0.9', port: 68 }),
    [],
  )
  assert.deepEqual(
    events.map((e) => e.type),
    ['dhcp.ignored'],
  )
})

test('createDhcpHandler() drops malformed packets with a reason and answers nothing', () => {
  const { handle, events } = setup()
  const truncated = clientPacket({ type: MessageType.Discover, ...PXE }).slice(0, 250)
  const wrongSize = clientPacket({ type: MessageType.Discover, ...PXE })
  wrongSize[242] = 2 // option 53 claims 2 bytes
  for (const bytes of [new Uint8Array(10), truncated, wrongSize]) {
    assert.deepEqual(handle({ bytes, address: '10.0.0.9', port: 68, via: 'server' }), [])
  }
  const reasons = events.map((e) => (e.type === 'dhcp.ignored' ? e.reason : e.type))
  assert.equal(reasons.length, 3)
  assert.match(reasons[0] as string, /^Cannot parse DHCP packet: it has 10 bytes.*\(from 10\.0\.0\.9:68\)$/)
})

test('createDhcpHandler() reports received and sent messages of configured machines as dhcp events', () => {
  const { send, events } = setup()
  send({ type: MessageType.Discover, ...PXE })
  assert.deepEqual(events, [
    {
      type: 'dhcp',
      direction: 'in',
      message: 'discover',
      mac: '02:00:00:00:00:01',
      machine: 'node1',
      xid: 0xabcd,
      port: 67,
      arch: 7,
    },
    {
      type: 'dhcp',
      direction: 'out',
      message: 'offer',
      mac: '02:00:00:00:00:01',
      machine: 'node1',
      xid: 0xabcd,
      port: 67,
      ip: '10.0.0.50',
      bootFile: 'uefi/shimx64.efi',
    },
  ])
})

test('createDhcpHandler() validates its options up front, naming the option', () => {
  const base = { interface: 'eth0', serverAddress: SERVER, machines: directory }
  assert.throws(() => createDhcpHandler({ ...base, mode: 'full' }), {
    name: 'DhcpConfigError',
    message: 'Cannot start DHCP server: full mode needs subnetMask (e.g. "255.255.255.0")',
  })
  assert.throws(
    () => createDhcpHandler({ ...base, serverAddress: '010.0.0.2', mode: 'proxy' }),
    DhcpConfigError,
  )
  assert.throws(
    () =>
      createDhcpHandler({
        ...base,
        mode: 'full',
        subnetMask: '255.255.255.0',
        dynamicRange: { start: '10.0.1.10', end: '10.0.1.20' },
      }),
    /is not inside the server's subnet/,
  )
})
