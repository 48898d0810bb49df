/**
 * The DHCP protocol logic without sockets (see dhcp.ts for the modes and the sockets):
 * `createDhcpHandler()` takes one received datagram and returns the replies to send.
 * It decodes the request, looks the MAC up, and runs one small function per message type
 * and mode over a HandlerState; addresses come from the machine directory or the LeaseTable
 * (dhcp-leases.ts), packets from the reply builders (dhcp-reply.ts).
 */

import {
  BootOp,
  clientMac,
  DhcpDecodeError,
  DhcpOption,
  type DhcpPacket,
  decodeDhcp,
  MessageType,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4, type IPv4, parseIPv4 } from '../../lib/ipv4/index.ts'
import { type BootClient, type BootReply, clientArch, decideBoot } from './boot-decision.ts'
import { BoundedMap } from './bounded-map.ts'
import { DHCP_DEFAULTS, type DhcpConfig, type DhcpServerOptions, resolveConfig } from './dhcp-config.ts'
import { LeaseTable } from './dhcp-leases.ts'
import {
  buildAck,
  buildInformAck,
  buildNak,
  buildOffer,
  buildProxyReply,
  type DhcpReply,
} from './dhcp-reply.ts'
import type { BootEventSink, DhcpMessageName } from './events.ts'

/** A received datagram. `via` says which port it reached (67 or 4011). */
export interface DhcpDatagram {
  readonly bytes: Uint8Array
  readonly address: string
  readonly port: number
  readonly via: 'server' | 'proxy'
}

const MESSAGE_NAMES: Readonly<Record<number, DhcpMessageName>> = {
  1: 'discover',
  2: 'offer',
  3: 'request',
  4: 'decline',
  5: 'ack',
  6: 'nak',
  7: 'release',
  8: 'inform',
}

/** PXE spec 2.1 §2.2.1: PXE firmware sends option 60 "PXEClient..."; UEFI HTTP boot "HTTPClient...". */
function isNetbootClient(vendorClass: string | undefined): boolean {
  return (
    vendorClass !== undefined && (vendorClass.startsWith('PXEClient') || vendorClass.startsWith('HTTPClient'))
  )
}

/** A decoded request with what the handler looks up about it. */
interface Incoming {
  readonly packet: DhcpPacket
  readonly mac: string
  readonly type: number
  readonly from: DhcpDatagram
  readonly machine: { readonly name: string; readonly ip: string } | undefined
  readonly client: BootClient
}

/** Entries the per-MAC memories keep at most (the oldest go first): spoofed MACs cannot grow them. */
export const DHCP_TABLE_LIMIT = 10_000

/** Reports something once per key (bounded, so spoofed MACs cannot grow it forever). */
class _Once {
  private readonly seen = new BoundedMap<string, true>(DHCP_TABLE_LIMIT)
  run(key: string, report: () => void): void {
    if (this.seen.has(key)) return
    this.seen.set(key, true)
    report()
  }
}

/** Everything a handler keeps between packets. */
interface HandlerState {
  readonly config: DhcpConfig
  readonly now: () => number
  readonly once: _Once
  /** Full mode with a dynamic range only. */
  readonly leases: LeaseTable | undefined
  /** Proxy mode: MACs that get no proxy offer until the time given (see proxyRequest). */
  readonly quiet: BoundedMap<string, number>
}

/**
 * Decodes a datagram into an Incoming, or undefined for what is not served (replies, non-Ethernet,
 * plain BOOTP). Throws DhcpDecodeError for malformed packets, including wrong-sized options read later.
 */
function decodeIncoming(config: DhcpConfig, datagram: DhcpDatagram): Incoming | undefined {
  const packet = decodeDhcp(datagram.bytes)
  if (packet.op !== BootOp.Request) return undefined
  const mac = clientMac(packet)
  if (mac === undefined || packet.htype !== 1) return undefined
  const type = packet.options.uint8(DhcpOption.MessageType)
  if (type === undefined) return undefined // plain BOOTP: not served
  const vendorClass = packet.options.string(DhcpOption.VendorClassIdentifier)
  const userClass = packet.options.string(DhcpOption.UserClass)
  const arch = packet.options.uint16s(DhcpOption.ClientSystemArchitecture)?.[0]
  const client: BootClient = {
    ...(arch === undefined ? {} : { arch }),
    ...(vendorClass === undefined ? {} : { vendorClass }),
    ...(userClass === undefined ? {} : { userClass }),
  }
  // Fail on wrong-sized options we read later, here, while we can still drop.
  packet.options.ip(DhcpOption.ServerIdentifier)
  packet.options.ip(DhcpOption.RequestedIpAddress)
  return { packet, mac, type, from: datagram, machine: config.machines.byMac(mac), client }
}

/**
 * The address the client has or asks for, when it says: ciaddr, else option 50 in a
 * REQUEST, else the datagram's source. In proxy mode this is how the server learns
 * the address the router leased, to tell which machine later TFTP and HTTP come from.
 */
function clientAddress(msg: Incoming): string | undefined {
  if (msg.packet.ciaddr !== 0) return formatIPv4(msg.packet.ciaddr)
  const requested = msg.packet.options.get(DhcpOption.RequestedIpAddress)
  if (msg.type === MessageType.Request && requested !== undefined && requested.length === 4) {
    return formatIPv4(msg.packet.options.ip(DhcpOption.RequestedIpAddress) as IPv4)
  }
  return msg.from.address !== '0.0.0.0' ? msg.from.address : undefined
}

function emitIn(emit: BootEventSink, msg: Incoming): void {
  if (msg.machine === undefined) return
  const arch = clientArch(msg.client)
  const ip = clientAddress(msg)
  emit({
    type: 'dhcp',
    direction: 'in',
    message: MESSAGE_NAMES[msg.type] ?? 'inform',
    mac: msg.mac,
    machine: msg.machine.name,
    xid: msg.packet.xid,
    port: msg.from.via === 'proxy' ? DHCP_DEFAULTS.proxyPort : DHCP_DEFAULTS.serverPort,
    ...(arch === undefined ? {} : { arch }),
    ...(ip === undefined ? {} : { ip }),
  })
}

function emitOut(emit: BootEventSink, msg: Incoming, reply: DhcpReply): void {
  if (msg.machine === undefined) return
  const type = reply.packet.options.uint8(DhcpOption.MessageType) as number
  const ip = reply.packet.yiaddr !== 0 ? formatIPv4(reply.packet.yiaddr) : undefined
  const bootFile = reply.packet.options.string(DhcpOption.BootfileName)
  emit({
    type: 'dhcp',
    direction: 'out',
    message: MESSAGE_NAMES[type] ?? 'ack',
    mac: msg.mac,
    machine: msg.machine.name,
    xid: msg.packet.xid,
    port: reply.via === 'proxy' ? DHCP_DEFAULTS.proxyPort : DHCP_DEFAULTS.serverPort,
    ...(ip === undefined ? {} : { ip }),
    ...(bootFile === undefined ? {} : { bootFile }),
  })
}

/** Boot information for a directory machine that netboots; undefined otherwise (warned once when no file fits). */
function bootFor(state: HandlerState, msg: Incoming): BootReply | undefined {
  if (msg.machine === undefined) return undefined
  const netboot = isNetbootClient(msg.client.vendorClass) || msg.client.userClass === 'iPXE'
  if (!netboot) return undefined
  const boot = decideBoot(msg.client, state.config.serverText, state.config.bootFiles)
  if (boot === undefined) {
    const arch = clientArch(msg.client)
    state.once.run(`noboot ${msg.mac} ${arch}`, () =>
      state.config.emit({
        type: 'pxe.warning',
        service: 'dhcp',
        message: `Cannot boot machine "${msg.machine?.name}" (${msg.mac}): no boot file for client architecture ${arch ?? '(not sent)'} with vendor class "${msg.client.vendorClass ?? ''}"; supported: 0 BIOS, 7/9 UEFI x86-64, 16 UEFI HTTP`,
      }),
    )
  }
  return boot
}

/** A dynamic address for a client not in the directory; warns (once a minute) when the range is full. */
function allocate(state: HandlerState, mac: string, preferred: IPv4 | undefined): IPv4 | undefined {
  if (state.leases === undefined) return undefined
  const lease = state.leases.allocate(mac, preferred)
  if (lease === undefined) {
    state.once.run(`range full ${Math.floor(state.now() / 60000)}`, () =>
      state.config.emit({
        type: 'pxe.warning',
        service: 'dhcp',
        message: 'Cannot lease an address: the dynamic range is full',
      }),
    )
  }
  return lease?.ip
}

// ---- Full mode (RFC 2131) -------------------------------------------------------------

/** The configured address of a directory machine (pinned: never from the lease table). */
function fixedAddress(msg: Incoming): IPv4 | undefined {
  return msg.machine === undefined ? undefined : parseIPv4(msg.machine.ip)
}

function fullDiscover(state: HandlerState, msg: Incoming): DhcpReply[] {
  const requested = msg.packet.options.ip(DhcpOption.RequestedIpAddress)
  const ip = fixedAddress(msg) ?? allocate(state, msg.mac, requested)
  if (ip === undefined) return []
  return [buildOffer(msg.packet, ip, bootFor(state, msg), state.config)]
}

function fullRequest(state: HandlerState, msg: Incoming): DhcpReply[] {
  const { packet: p, mac } = msg
  const { config, leases } = state
  const fixed = fixedAddress(msg)
  const serverId = p.options.ip(DhcpOption.ServerIdentifier)
  if (serverId !== undefined && serverId !== config.server) {
    // SELECTING state, another server chosen (RFC 2131 §4.3.2): free our offer.
    if (fixed === undefined) leases?.releaseOffer(mac)
    return []
  }
  const wanted = p.options.ip(DhcpOption.RequestedIpAddress) ?? (p.ciaddr !== 0 ? p.ciaddr : undefined)
  let ip = fixed
  if (ip === undefined) {
    const lease = leases?.get(mac)
    if (lease !== undefined) ip = lease.ip
    else if (serverId === config.server) ip = allocate(state, mac, wanted)
  }
  if (ip === undefined) return [] // not ours to answer (INIT-REBOOT of a stranger)
  if (wanted !== undefined && wanted !== ip) {
    return [buildNak(p, `address ${formatIPv4(wanted)} is not yours; ask again`, config)]
  }
  if (fixed === undefined) leases?.bind(mac)
  return [buildAck(p, ip, bootFor(state, msg), config)]
}

function fullDecline(state: HandlerState, msg: Incoming): DhcpReply[] {
  const requested = msg.packet.options.ip(DhcpOption.RequestedIpAddress)
  if (requested !== undefined) {
    state.leases?.decline(requested)
    state.config.emit({
      type: 'pxe.warning',
      service: 'dhcp',
      message: `Cannot use address ${formatIPv4(requested)}: client ${msg.mac} declined it, another host answers on it`,
    })
  }
  if (fixedAddress(msg) === undefined) state.leases?.release(msg.mac)
  return []
}

function fullMode(state: HandlerState, msg: Incoming): DhcpReply[] {
  switch (msg.type) {
    case MessageType.Discover:
      return fullDiscover(state, msg)
    case MessageType.Request:
      return fullRequest(state, msg)
    case MessageType.Decline:
      return fullDecline(state, msg)
    case MessageType.Release:
      if (fixedAddress(msg) === undefined) state.leases?.release(msg.mac)
      return []
    case MessageType.Inform:
      // RFC 2131 §3.4: configuration only, no address, unicast to ciaddr.
      return [buildInformAck(msg.packet, bootFor(state, msg), state.config)]
    default:
      return []
  }
}

// ---- Proxy mode (PXE spec 2.1 §2.2.3) -------------------------------------------------

function proxyRequest(state: HandlerState, msg: Incoming): DhcpReply[] {
  const { packet: p, mac } = msg
  const serverId = p.options.ip(DhcpOption.ServerIdentifier)
  if (serverId !== state.config.server) return [] // meant for the router
  const requested = p.options.ip(DhcpOption.RequestedIpAddress)
  if (requested !== undefined) {
    // A generic DHCP client (udhcpc, dhclient) took our address-less offer as a
    // lease offer and asks us for an address. We have none to give: NAK (it must
    // carry our server id or udhcpc ignores it) and stay quiet for a while, so its
    // next DISCOVER gets only the router's offer. PXE firmware never does this.
    state.quiet.set(mac, state.now() + DHCP_DEFAULTS.proxyQuietSeconds * 1000)
    state.config.emit({
      type: 'pxe.warning',
      service: 'proxydhcp',
      message: `Cannot give an address to ${mac}: proxy mode leases nothing; it asked for ${formatIPv4(requested)}, told it no (NAK) so it takes the router's offer`,
    })
    return [buildNak(p, undefined, state.config)]
  }
  const boot = bootFor(state, msg)
  if (boot === undefined) return []
  return [buildProxyReply(p, MessageType.Ack, boot, state.config)]
}

function proxyMode(state: HandlerState, msg: Incoming): DhcpReply[] {
  if (msg.from.via === 'proxy') {
    // Port 4011: the client has an address now; answer its REQUEST (or INFORM) unicast.
    if (msg.type !== MessageType.Request && msg.type !== MessageType.Inform) return []
    const boot = bootFor(state, msg)
    if (boot === undefined) return []
    return [buildProxyReply(msg.packet, MessageType.Ack, boot, state.config, msg.from)]
  }
  if (msg.type === MessageType.Discover) {
    const until = state.quiet.get(msg.mac)
    if (until !== undefined && until > state.now()) return []
    const boot = bootFor(state, msg)
    if (boot === undefined) return []
    return [buildProxyReply(msg.packet, MessageType.Offer, boot, state.config)]
  }
  if (msg.type === MessageType.Request) return proxyRequest(state, msg)
  return []
}

/** Reports a client not in the directory (once per MAC); true when it gets no answer at all. */
function reportStranger(state: HandlerState, msg: Incoming): boolean {
  const { config } = state
  const ignore = (reason: string) =>
    state.once.run(`ignored ${msg.mac}`, () => config.emit({ type: 'dhcp.ignored', mac: msg.mac, reason }))
  if (config.mode === 'proxy') {
    if (isNetbootClient(msg.client.vendorClass))
      ignore('not in the machine directory: not answered (proxy mode)')
    return true
  }
  ignore(
    config.range === undefined
      ? 'not in the machine directory: not answered (no dynamic range)'
      : 'not in the machine directory: may lease from the dynamic range, never gets boot information',
  )
  return false
}

/**
 * The DHCP protocol logic, without sockets: `handle()` takes one received datagram
 * and returns the replies to send (often none). Malformed packets are dropped and
 * reported; nothing throws. `now` is injectable for lease-expiry tests.
 */
export function createDhcpHandler(
  options: DhcpServerOptions,
  now: () => number = Date.now,
): { handle(datagram: DhcpDatagram): DhcpReply[] } {
  const config = resolveConfig(options)
  const leases =
    config.range === undefined
      ? undefined
      : new LeaseTable({
          range: config.range,
          leaseSeconds: config.leaseSeconds,
          offerHoldSeconds: DHCP_DEFAULTS.offerHoldSeconds,
          isReserved: (ip) => ip === config.server || config.machines.byIp(formatIPv4(ip)) !== undefined,
          now,
        })
  const state: HandlerState = {
    config,
    now,
    once: new _Once(),
    leases,
    quiet: new BoundedMap(DHCP_TABLE_LIMIT),
  }

  function handle(datagram: DhcpDatagram): DhcpReply[] {
    let msg: Incoming | undefined
    try {
      msg = decodeIncoming(config, datagram)
    } catch (error) {
      if (!(error instanceof DhcpDecodeError)) throw error
      const reason = `${error.message} (from ${datagram.address}:${datagram.port})`
      config.emit({ type: 'dhcp.ignored', mac: '', reason })
      return []
    }
    if (msg === undefined) return []
    if (msg.machine === undefined && reportStranger(state, msg)) return []
    emitIn(config.emit, msg)
    const replies = config.mode === 'full' ? fullMode(state, msg) : proxyMode(state, msg)
    for (const r of replies) emitOut(config.emit, msg, r)
    return replies
  }

  return { handle }
}
