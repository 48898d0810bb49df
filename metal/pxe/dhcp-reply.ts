/**
 * DHCP replies as pure functions: a decoded request, the decision (message type, address, boot
 * information) and the server's facts in; a packet, or a packet with its destination, out.
 * No state and no sockets, so each rule is tested on its own (dhcp-reply.test.ts).
 */
import {
  BootOp,
  BROADCAST_FLAG,
  DhcpOption,
  DhcpOptions,
  type DhcpPacket,
  MessageType,
  optIp,
  optIps,
  optString,
  optUint8,
  optUint32,
  PXE_DISCOVERY_BOOT_FILE_DIRECTLY,
  PxeSubOption,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4, type IPv4 } from '../../lib/ipv4/index.ts'
import type { BootReply } from './boot-decision.ts'

/** A reply to send: the packet, where to, and from which socket (67 or 4011). */
export interface DhcpReply {
  readonly packet: DhcpPacket
  readonly address: string
  readonly port: number
  readonly via: 'server' | 'proxy'
}

/** What replies say about the server and the segment (DhcpConfig fits). */
export interface ServerFacts {
  readonly server: IPv4
  readonly leaseSeconds: number
  readonly mask: IPv4 | undefined
  readonly gateway: IPv4 | undefined
  readonly dns: readonly IPv4[]
  readonly clientPort: number
  readonly serverPort: number
}

type Options = [number, Uint8Array][]

/** Option 43 with PXE_DISCOVERY_CONTROL = 8: boot the file given, no discovery, no menu. */
export const PXE_VENDOR_OPTIONS = Uint8Array.of(
  PxeSubOption.DiscoveryControl,
  1,
  PXE_DISCOVERY_BOOT_FILE_DIRECTLY,
  DhcpOption.End,
)

/** Boot information as options 60, 67, 43 (PXE only) and 97 (echoed GUID). */
function bootOptions(request: DhcpPacket, boot: BootReply): Options {
  const out: Options = [
    [DhcpOption.VendorClassIdentifier, optString(boot.vendorClass)],
    [DhcpOption.BootfileName, optString(boot.file)],
  ]
  if (boot.vendorClass === 'PXEClient') out.push([DhcpOption.VendorSpecific, PXE_VENDOR_OPTIONS])
  // RFC 4578 §2.3: some firmware ignores replies that do not echo its GUID.
  const guid = request.options.get(DhcpOption.ClientMachineIdentifier)
  if (guid !== undefined) out.push([DhcpOption.ClientMachineIdentifier, guid])
  return out
}

/**
 * A reply to `request` (RFC 2131 §4.3.1 table 3): xid, flags, giaddr and chaddr copied, our
 * server identifier, `options`, then the boot information when given.
 */
export function buildReply(
  request: DhcpPacket,
  type: number,
  yiaddr: IPv4,
  options: Options,
  boot: BootReply | undefined,
  server: IPv4,
): DhcpPacket {
  const all: Options = [
    [DhcpOption.MessageType, optUint8(type)],
    [DhcpOption.ServerIdentifier, optIp(server)],
    ...options,
    ...(boot === undefined ? [] : bootOptions(request, boot)),
  ]
  return {
    op: BootOp.Reply,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: type === MessageType.Nak ? 0 : request.ciaddr,
    yiaddr,
    // siaddr is "the next server": the TFTP server for TFTP boots. Some firmware (U-Boot)
    // reads only the BOOTP `file` field, so it is set as well as option 67.
    siaddr: boot !== undefined ? server : 0,
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: '',
    file: boot?.file ?? '',
    options: new DhcpOptions(all),
  }
}

/** Lease time, T1 (half), T2 (7/8), then mask, router and DNS when configured. */
export function leaseOptions(facts: ServerFacts): Options {
  const out: Options = [
    [DhcpOption.LeaseTime, optUint32(facts.leaseSeconds)],
    [DhcpOption.RenewalTime, optUint32(Math.floor(facts.leaseSeconds / 2))],
    [DhcpOption.RebindingTime, optUint32(Math.floor((facts.leaseSeconds * 7) / 8))],
  ]
  if (facts.mask !== undefined) out.push([DhcpOption.SubnetMask, optIp(facts.mask)])
  if (facts.gateway !== undefined) out.push([DhcpOption.Router, optIps([facts.gateway])])
  if (facts.dns.length > 0) out.push([DhcpOption.DomainNameServer, optIps(facts.dns)])
  return out
}

/**
 * Where a reply goes (RFC 2131 §4.1): to the relay (port 67, broadcast flag set on a NAK), to
 * ciaddr when the client has an address (never for a NAK), else broadcast. (Unicast to yiaddr
 * before the client has the address needs an ARP entry we cannot write from Node; broadcasting
 * is allowed instead.)
 */
export function replyDestination(request: DhcpPacket, packet: DhcpPacket, facts: ServerFacts): DhcpReply {
  const nak = packet.options.uint8(DhcpOption.MessageType) === MessageType.Nak
  if (request.giaddr !== 0) {
    return {
      packet: nak ? { ...packet, flags: packet.flags | BROADCAST_FLAG } : packet,
      address: formatIPv4(request.giaddr),
      port: facts.serverPort,
      via: 'server',
    }
  }
  if (request.ciaddr !== 0 && !nak)
    return { packet, address: formatIPv4(request.ciaddr), port: facts.clientPort, via: 'server' }
  return { packet, address: '255.255.255.255', port: facts.clientPort, via: 'server' }
}

/** Full mode: OFFER of `ip` with the lease options and, for a netbooting machine, boot information. */
export function buildOffer(
  request: DhcpPacket,
  ip: IPv4,
  boot: BootReply | undefined,
  facts: ServerFacts,
): DhcpReply {
  const packet = buildReply(request, MessageType.Offer, ip, leaseOptions(facts), boot, facts.server)
  return replyDestination(request, packet, facts)
}

/** Full mode: ACK of `ip` with the lease options and, for a netbooting machine, boot information. */
export function buildAck(
  request: DhcpPacket,
  ip: IPv4,
  boot: BootReply | undefined,
  facts: ServerFacts,
): DhcpReply {
  const packet = buildReply(request, MessageType.Ack, ip, leaseOptions(facts), boot, facts.server)
  return replyDestination(request, packet, facts)
}

/** Full mode, RFC 2131 §3.4: an ACK to an INFORM carries configuration only, no address or lease times. */
export function buildInformAck(
  request: DhcpPacket,
  boot: BootReply | undefined,
  facts: ServerFacts,
): DhcpReply {
  const lease = new Set<number>([DhcpOption.LeaseTime, DhcpOption.RenewalTime, DhcpOption.RebindingTime])
  const options = leaseOptions(facts).filter(([code]) => !lease.has(code))
  const packet = buildReply(request, MessageType.Ack, 0, options, boot, facts.server)
  return replyDestination(request, packet, facts)
}

/** A NAK, with option 56 `message` when given; broadcast (or to the relay) since the client has no address. */
export function buildNak(request: DhcpPacket, message: string | undefined, facts: ServerFacts): DhcpReply {
  const options: Options = message === undefined ? [] : [[DhcpOption.Message, optString(message)]]
  const packet = buildReply(request, MessageType.Nak, 0, options, undefined, facts.server)
  return replyDestination(request, packet, facts)
}

/**
 * Proxy mode (PXE spec 2.1 §2.2.3): an OFFER or ACK with boot information and no address.
 * Received on port 4011 (`from` given): unicast back to the sender from the 4011 socket;
 * else addressed like any reply on port 67.
 */
export function buildProxyReply(
  request: DhcpPacket,
  type: typeof MessageType.Offer | typeof MessageType.Ack,
  boot: BootReply,
  facts: ServerFacts,
  from?: { readonly address: string; readonly port: number },
): DhcpReply {
  const packet = buildReply(request, type, 0, [], boot, facts.server)
  if (from === undefined) return replyDestination(request, packet, facts)
  return { packet, address: from.address, port: from.port, via: 'proxy' }
}
