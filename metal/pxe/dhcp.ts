/**
 * The PXE server's DHCP service, in one of two modes:
 *
 * - proxy: the home router keeps handing out addresses; we only add boot information
 *   (PXE spec 2.1 §2.2.3 "ProxyDHCP"). We answer PXE/HTTP-boot clients in the machine
 *   directory on port 67 with an offer that carries no address, and their REQUEST on
 *   port 4011 (or on 67 when it names us in option 54) with an ACK.
 * - full: we are the DHCP server of the segment (RFC 2131). Each machine in the
 *   directory gets its configured address and its boot information; other clients may
 *   get an address from the optional dynamic range, never boot information.
 *
 * Only MACs in the machine directory ever get boot information. Others are reported
 * once (a 'dhcp.ignored' event) and, in proxy mode, never answered.
 *
 * Multi-homed controllers: Node's dgram cannot bind to a device nor tell which
 * interface a broadcast came in on. Two sockets share port 67: one on 0.0.0.0 receives
 * the clients' broadcasts, one bound to the server address sends every reply and
 * receives unicasts. Linux routes a limited broadcast (255.255.255.255) sent from a
 * socket bound to an interface's own address out of that interface, so replies leave
 * through the configured interface only (tested in dhcp.multihomed.test.ts).
 *
 * The protocol logic is `createDhcpHandler()`: packets in, replies out, no sockets,
 * so it can be tested and measured on its own. `serveDhcp()` adds the sockets.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import {
  BootOp,
  BROADCAST_FLAG,
  clientMac,
  DhcpDecodeError,
  DhcpOption,
  DhcpOptions,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  MessageType,
  optIp,
  optIps,
  optString,
  optUint8,
  optUint32,
  PXE_DISCOVERY_BOOT_FILE_DIRECTLY,
  PxeSubOption,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4, type IPv4, parseIPv4 } from '../../lib/ipv4/index.ts'
import { type BootClient, type BootFiles, type BootReply, clientArch, decideBoot } from './boot-decision.ts'
import type { BootEventSink, DhcpMessageName } from './events.ts'
import type { MachineDirectory } from './machine-directory.ts'

export interface DhcpServerOptions {
  /** The interface to serve (e.g. "enp1s0"); `serverAddress` must be one of its addresses. */
  readonly interface: string
  /** The controller's IPv4 address on that interface. */
  readonly serverAddress: string
  readonly mode: 'proxy' | 'full'
  /** The only machines that ever get boot information. */
  readonly machines: MachineDirectory
  /** Boot file names (default: DEFAULT_BOOT_FILES from boot-decision.ts). */
  readonly bootFiles?: BootFiles
  /** Full mode: the subnet mask handed out, e.g. "255.255.255.0". Required in full mode. */
  readonly subnetMask?: string
  /** Full mode: the default gateway (option 3). */
  readonly gateway?: string
  /** Full mode: DNS servers (option 6). */
  readonly dns?: readonly string[]
  /** Full mode: lease time in seconds. @default 3600 */
  readonly leaseSeconds?: number
  /** Full mode: addresses for clients not in the directory; none when absent. */
  readonly dynamicRange?: { readonly start: string; readonly end: string }
  readonly events?: BootEventSink
  /** Tests only: ports to use instead of 67 (server), 68 (client) and 4011 (proxy). */
  readonly ports?: { readonly server?: number; readonly client?: number; readonly proxy?: number }
  /** Tests only: skip the check that `serverAddress` is on `interface`. */
  readonly skipInterfaceCheck?: boolean
}

export const DHCP_DEFAULTS = {
  leaseSeconds: 3600,
  serverPort: 67,
  clientPort: 68,
  proxyPort: 4011,
  /** How long an offered dynamic address stays reserved for the client. */
  offerHoldSeconds: 60,
  /** How long a generic client that mistook our proxy offer for a lease gets no proxy offer. */
  proxyQuietSeconds: 60,
} as const

export class DhcpConfigError extends Error {
  readonly code = 'HOMELAB_DHCP_CONFIG'
  override name = 'DhcpConfigError'
}

/** A reply to send: the packet, where to, and from which socket (67 or 4011). */
export interface DhcpReply {
  readonly packet: DhcpPacket
  readonly address: string
  readonly port: number
  readonly via: 'server' | 'proxy'
}

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

interface Lease {
  readonly ip: IPv4
  expires: number
  bound: boolean
}

interface Config {
  readonly mode: 'proxy' | 'full'
  readonly server: IPv4
  readonly serverText: string
  readonly machines: MachineDirectory
  readonly bootFiles: BootFiles | undefined
  readonly mask: IPv4 | undefined
  readonly gateway: IPv4 | undefined
  readonly dns: readonly IPv4[]
  readonly leaseSeconds: number
  readonly range: { readonly start: IPv4; readonly end: IPv4 } | undefined
  readonly clientPort: number
  readonly serverPort: number
  readonly emit: BootEventSink
}

function ipOption(name: string, value: string | undefined): IPv4 | undefined {
  if (value === undefined) return undefined
  const ip = parseIPv4(value)
  if (ip === undefined) {
    throw new DhcpConfigError(
      `Cannot start DHCP server: ${name} "${value}" is not a dotted-decimal IPv4 address`,
    )
  }
  return ip
}

function resolveConfig(options: DhcpServerOptions): Config {
  const server = ipOption('serverAddress', options.serverAddress) as IPv4
  if (options.mode !== 'proxy' && options.mode !== 'full') {
    throw new DhcpConfigError(
      `Cannot start DHCP server: mode "${String(options.mode)}" is not "proxy" or "full"`,
    )
  }
  const mask = ipOption('subnetMask', options.subnetMask)
  if (options.mode === 'full' && mask === undefined) {
    throw new DhcpConfigError('Cannot start DHCP server: full mode needs subnetMask (e.g. "255.255.255.0")')
  }
  const leaseSeconds = options.leaseSeconds ?? DHCP_DEFAULTS.leaseSeconds
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 60 || leaseSeconds > 0xfffffffe) {
    throw new DhcpConfigError(
      `Cannot start DHCP server: leaseSeconds ${leaseSeconds} is not a whole number of seconds from 60 up`,
    )
  }
  let range: Config['range']
  if (options.dynamicRange !== undefined) {
    const start = ipOption('dynamicRange.start', options.dynamicRange.start) as IPv4
    const end = ipOption('dynamicRange.end', options.dynamicRange.end) as IPv4
    if (end < start) {
      throw new DhcpConfigError(
        `Cannot start DHCP server: dynamicRange ${options.dynamicRange.start}-${options.dynamicRange.end} ends before it starts`,
      )
    }
    if (
      mask !== undefined &&
      ((start & mask) >>> 0 !== (server & mask) >>> 0 || (end & mask) >>> 0 !== (server & mask) >>> 0)
    ) {
      throw new DhcpConfigError(
        `Cannot start DHCP server: dynamicRange ${options.dynamicRange.start}-${options.dynamicRange.end} is not inside the server's subnet`,
      )
    }
    range = { start, end }
  }
  return {
    mode: options.mode,
    server,
    serverText: formatIPv4(server),
    machines: options.machines,
    bootFiles: options.bootFiles,
    mask,
    gateway: ipOption('gateway', options.gateway),
    dns: (options.dns ?? []).map((d, i) => ipOption(`dns[${i}]`, d) as IPv4),
    leaseSeconds,
    range,
    clientPort: options.ports?.client ?? DHCP_DEFAULTS.clientPort,
    serverPort: options.ports?.server ?? DHCP_DEFAULTS.serverPort,
    emit: options.events ?? (() => {}),
  }
}

/** PXE spec 2.1 §2.2.1: PXE firmware sends option 60 "PXEClient..."; UEFI HTTP boot "HTTPClient...". */
function isNetbootClient(vendorClass: string | undefined): boolean {
  return (
    vendorClass !== undefined && (vendorClass.startsWith('PXEClient') || vendorClass.startsWith('HTTPClient'))
  )
}

/** Option 43 with PXE_DISCOVERY_CONTROL = 8: boot the file given, no discovery, no menu. */
const PXE_VENDOR_OPTIONS = Uint8Array.of(
  PxeSubOption.DiscoveryControl,
  1,
  PXE_DISCOVERY_BOOT_FILE_DIRECTLY,
  DhcpOption.End,
)

interface Incoming {
  readonly packet: DhcpPacket
  readonly mac: string
  readonly type: number
  readonly from: DhcpDatagram
  readonly machine: { readonly name: string; readonly ip: string } | undefined
  readonly client: BootClient
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
  const { emit } = config
  const reported = new Set<string>()
  const leases = new Map<string, Lease>()
  const leasedIps = new Map<IPv4, string>()
  const declined = new Map<IPv4, number>()
  const quiet = new Map<string, number>()

  /** Reports something once per key (bounded, so spoofed MACs cannot grow it forever). */
  function once(key: string, report: () => void): void {
    if (reported.has(key)) return
    if (reported.size >= 10000) reported.clear()
    reported.add(key)
    report()
  }

  function ignore(mac: string, reason: string): void {
    once(`ignored ${mac}`, () => emit({ type: 'dhcp.ignored', mac, reason }))
  }

  function emitIn(msg: Incoming): void {
    if (msg.machine === undefined) return
    emit({
      type: 'dhcp',
      direction: 'in',
      message: MESSAGE_NAMES[msg.type] ?? 'inform',
      mac: msg.mac,
      machine: msg.machine.name,
      xid: msg.packet.xid,
      port: msg.from.via === 'proxy' ? DHCP_DEFAULTS.proxyPort : DHCP_DEFAULTS.serverPort,
      ...(clientArch(msg.client) === undefined ? {} : { arch: clientArch(msg.client) as number }),
      ...(clientAddress(msg) === undefined ? {} : { ip: clientAddress(msg) as string }),
    })
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

  function emitOut(msg: Incoming, reply: DhcpReply): void {
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

  /** Boot information for a directory machine that netboots; undefined otherwise. */
  function bootFor(msg: Incoming): BootReply | undefined {
    if (msg.machine === undefined) return undefined
    const netboot = isNetbootClient(msg.client.vendorClass) || msg.client.userClass === 'iPXE'
    if (!netboot) return undefined
    const boot = decideBoot(msg.client, config.serverText, config.bootFiles)
    if (boot === undefined) {
      const arch = clientArch(msg.client)
      once(`noboot ${msg.mac} ${arch}`, () =>
        emit({
          type: 'pxe.warning',
          service: 'dhcp',
          message: `Cannot boot machine "${msg.machine?.name}" (${msg.mac}): no boot file for client architecture ${arch ?? '(not sent)'} with vendor class "${msg.client.vendorClass ?? ''}"; supported: 0 BIOS, 7/9 UEFI x86-64, 16 UEFI HTTP`,
        }),
      )
    }
    return boot
  }

  /** Reply skeleton (RFC 2131 §4.3.1 table 3): xid, flags, giaddr and chaddr copied. */
  function reply(
    msg: Incoming,
    type: number,
    yiaddr: IPv4,
    options: [number, Uint8Array][],
    boot: BootReply | undefined,
  ): DhcpPacket {
    const p = msg.packet
    const all: [number, Uint8Array][] = [
      [DhcpOption.MessageType, optUint8(type)],
      [DhcpOption.ServerIdentifier, optIp(config.server)],
      ...options,
    ]
    if (boot !== undefined) {
      all.push([DhcpOption.VendorClassIdentifier, optString(boot.vendorClass)])
      all.push([DhcpOption.BootfileName, optString(boot.file)])
      if (boot.vendorClass === 'PXEClient') all.push([DhcpOption.VendorSpecific, PXE_VENDOR_OPTIONS])
      // RFC 4578 §2.3: some firmware ignores replies that do not echo its GUID.
      const guid = p.options.get(DhcpOption.ClientMachineIdentifier)
      if (guid !== undefined) all.push([DhcpOption.ClientMachineIdentifier, guid])
    }
    return {
      op: BootOp.Reply,
      htype: p.htype,
      hlen: p.hlen,
      hops: 0,
      xid: p.xid,
      secs: 0,
      flags: p.flags,
      ciaddr: type === MessageType.Nak ? 0 : p.ciaddr,
      yiaddr,
      // siaddr is "the next server": the TFTP server for TFTP boots. Some firmware (U-Boot)
      // reads only the BOOTP `file` field, so it is set as well as option 67.
      siaddr: boot !== undefined ? config.server : 0,
      giaddr: p.giaddr,
      chaddr: p.chaddr,
      sname: '',
      file: boot?.file ?? '',
      options: new DhcpOptions(all),
    }
  }

  /**
   * Where a reply goes (RFC 2131 §4.1): to the relay, to ciaddr when the client has an
   * address, else broadcast. (Unicast to yiaddr before the client has the address needs
   * an ARP entry we cannot write from Node; broadcasting is allowed instead.)
   */
  function destination(msg: Incoming, packet: DhcpPacket): DhcpReply {
    const p = msg.packet
    const nak = packet.options.uint8(DhcpOption.MessageType) === MessageType.Nak
    if (p.giaddr !== 0)
      return {
        packet: withBroadcastFlag(packet, nak),
        address: formatIPv4(p.giaddr),
        port: config.serverPort,
        via: 'server',
      }
    if (p.ciaddr !== 0 && !nak)
      return { packet, address: formatIPv4(p.ciaddr), port: config.clientPort, via: 'server' }
    return { packet, address: '255.255.255.255', port: config.clientPort, via: 'server' }
  }

  function withBroadcastFlag(packet: DhcpPacket, set: boolean): DhcpPacket {
    return set ? { ...packet, flags: packet.flags | BROADCAST_FLAG } : packet
  }

  function leaseOptions(): [number, Uint8Array][] {
    const out: [number, Uint8Array][] = [
      [DhcpOption.LeaseTime, optUint32(config.leaseSeconds)],
      [DhcpOption.RenewalTime, optUint32(Math.floor(config.leaseSeconds / 2))],
      [DhcpOption.RebindingTime, optUint32(Math.floor((config.leaseSeconds * 7) / 8))],
    ]
    if (config.mask !== undefined) out.push([DhcpOption.SubnetMask, optIp(config.mask)])
    if (config.gateway !== undefined) out.push([DhcpOption.Router, optIps([config.gateway])])
    if (config.dns.length > 0) out.push([DhcpOption.DomainNameServer, optIps(config.dns)])
    return out
  }

  // ---- Dynamic range (full mode, clients not in the directory) ----------------------

  function isFree(ip: IPv4, t: number): boolean {
    if (ip === config.server) return false
    if (config.machines.byIp(formatIPv4(ip)) !== undefined) return false
    const until = declined.get(ip)
    if (until !== undefined && until > t) return false
    const holder = leasedIps.get(ip)
    if (holder === undefined) return true
    const lease = leases.get(holder)
    return lease === undefined || lease.expires <= t
  }

  function allocate(mac: string, preferred: IPv4 | undefined): Lease | undefined {
    const range = config.range
    if (range === undefined) return undefined
    const t = now()
    const existing = leases.get(mac)
    if (existing !== undefined && (existing.expires > t || isFree(existing.ip, t))) return existing
    let ip: IPv4 | undefined
    if (
      preferred !== undefined &&
      preferred >= range.start &&
      preferred <= range.end &&
      isFree(preferred, t)
    ) {
      ip = preferred
    } else {
      for (let candidate = range.start; candidate <= range.end; candidate++) {
        if (isFree(candidate, t)) {
          ip = candidate
          break
        }
      }
    }
    if (ip === undefined) {
      once(`range full ${Math.floor(t / 60000)}`, () =>
        emit({
          type: 'pxe.warning',
          service: 'dhcp',
          message: 'Cannot lease an address: the dynamic range is full',
        }),
      )
      return undefined
    }
    const previousHolder = leasedIps.get(ip)
    if (previousHolder !== undefined) leases.delete(previousHolder)
    if (existing !== undefined) leasedIps.delete(existing.ip)
    const lease: Lease = { ip, expires: t + DHCP_DEFAULTS.offerHoldSeconds * 1000, bound: false }
    leases.set(mac, lease)
    leasedIps.set(ip, mac)
    return lease
  }

  function release(mac: string): void {
    const lease = leases.get(mac)
    if (lease === undefined) return
    leases.delete(mac)
    leasedIps.delete(lease.ip)
  }

  // ---- Full mode ----------------------------------------------------------------------

  function fullMode(msg: Incoming): DhcpReply[] {
    const { packet: p, mac, machine } = msg
    const fixed = machine === undefined ? undefined : parseIPv4(machine.ip)
    const requested = p.options.ip(DhcpOption.RequestedIpAddress)
    switch (msg.type) {
      case MessageType.Discover: {
        const ip = fixed ?? allocate(mac, requested)?.ip
        if (ip === undefined) return []
        return [destination(msg, reply(msg, MessageType.Offer, ip, leaseOptions(), bootFor(msg)))]
      }
      case MessageType.Request: {
        const serverId = p.options.ip(DhcpOption.ServerIdentifier)
        if (serverId !== undefined && serverId !== config.server) {
          // SELECTING state, another server chosen (RFC 2131 §4.3.2): free our offer.
          if (fixed === undefined && leases.get(mac)?.bound === false) release(mac)
          return []
        }
        const wanted = requested ?? (p.ciaddr !== 0 ? p.ciaddr : undefined)
        let ip = fixed
        if (ip === undefined) {
          const lease = leases.get(mac)
          if (lease !== undefined) ip = lease.ip
          else if (serverId === config.server) ip = allocate(mac, wanted)?.ip
        }
        if (ip === undefined) return [] // not ours to answer (INIT-REBOOT of a stranger)
        if (wanted !== undefined && wanted !== ip) {
          return [
            destination(
              msg,
              reply(
                msg,
                MessageType.Nak,
                0,
                [[DhcpOption.Message, optString(`address ${formatIPv4(wanted)} is not yours; ask again`)]],
                undefined,
              ),
            ),
          ]
        }
        if (fixed === undefined) {
          const lease = leases.get(mac)
          if (lease !== undefined) {
            lease.bound = true
            lease.expires = now() + config.leaseSeconds * 1000
          }
        }
        return [destination(msg, reply(msg, MessageType.Ack, ip, leaseOptions(), bootFor(msg)))]
      }
      case MessageType.Decline: {
        if (requested !== undefined) {
          declined.set(requested, now() + config.leaseSeconds * 1000)
          emit({
            type: 'pxe.warning',
            service: 'dhcp',
            message: `Cannot use address ${formatIPv4(requested)}: client ${mac} declined it, another host answers on it`,
          })
        }
        if (fixed === undefined) release(mac)
        return []
      }
      case MessageType.Release:
        if (fixed === undefined) release(mac)
        return []
      case MessageType.Inform: {
        // RFC 2131 §3.4: configuration only, no address, unicast to ciaddr.
        const options = leaseOptions().filter(
          ([code]) =>
            code !== DhcpOption.LeaseTime &&
            code !== DhcpOption.RenewalTime &&
            code !== DhcpOption.RebindingTime,
        )
        return [destination(msg, reply(msg, MessageType.Ack, 0, options, bootFor(msg)))]
      }
      default:
        return []
    }
  }

  // ---- Proxy mode (PXE spec 2.1 §2.2.3) -------------------------------------------------

  function proxyMode(msg: Incoming): DhcpReply[] {
    const { packet: p, mac } = msg
    if (msg.from.via === 'proxy') {
      // Port 4011: the client has an address now; answer its REQUEST (or INFORM) unicast.
      if (msg.type !== MessageType.Request && msg.type !== MessageType.Inform) return []
      const boot = bootFor(msg)
      if (boot === undefined) return []
      return [
        {
          packet: reply(msg, MessageType.Ack, 0, [], boot),
          address: msg.from.address,
          port: msg.from.port,
          via: 'proxy',
        },
      ]
    }
    if (msg.type === MessageType.Discover) {
      const until = quiet.get(mac)
      if (until !== undefined && until > now()) return []
      const boot = bootFor(msg)
      if (boot === undefined) return []
      return [destination(msg, reply(msg, MessageType.Offer, 0, [], boot))]
    }
    if (msg.type === MessageType.Request) {
      const serverId = p.options.ip(DhcpOption.ServerIdentifier)
      if (serverId !== config.server) return [] // meant for the router
      const requested = p.options.ip(DhcpOption.RequestedIpAddress)
      if (requested !== undefined) {
        // A generic DHCP client (udhcpc, dhclient) took our address-less offer as a
        // lease offer and asks us for an address. We have none to give: NAK (it must
        // carry our server id or udhcpc ignores it) and stay quiet for a while, so its
        // next DISCOVER gets only the router's offer. PXE firmware never does this.
        quiet.set(mac, now() + DHCP_DEFAULTS.proxyQuietSeconds * 1000)
        if (quiet.size > 10000) quiet.clear()
        emit({
          type: 'pxe.warning',
          service: 'proxydhcp',
          message: `Cannot give an address to ${mac}: proxy mode leases nothing; it asked for ${formatIPv4(requested)}, told it no (NAK) so it takes the router's offer`,
        })
        return [destination(msg, reply(msg, MessageType.Nak, 0, [], undefined))]
      }
      const boot = bootFor(msg)
      if (boot === undefined) return []
      return [destination(msg, reply(msg, MessageType.Ack, 0, [], boot))]
    }
    return []
  }

  function handle(datagram: DhcpDatagram): DhcpReply[] {
    let msg: Incoming
    try {
      const packet = decodeDhcp(datagram.bytes)
      if (packet.op !== BootOp.Request) return []
      const mac = clientMac(packet)
      if (mac === undefined || packet.htype !== 1) return []
      const type = packet.options.uint8(DhcpOption.MessageType)
      if (type === undefined) return [] // plain BOOTP: not served
      const vendorClass = packet.options.string(DhcpOption.VendorClassIdentifier)
      const userClass = packet.options.string(DhcpOption.UserClass)
      const arch = packet.options.uint16s(DhcpOption.ClientSystemArchitecture)?.[0]
      const client: BootClient = {
        ...(arch === undefined ? {} : { arch }),
        ...(vendorClass === undefined ? {} : { vendorClass }),
        ...(userClass === undefined ? {} : { userClass }),
      }
      const machine = config.machines.byMac(mac)
      msg = { packet, mac, type, from: datagram, machine, client }
      // Fail on wrong-sized options we read later, here, while we can still drop.
      packet.options.ip(DhcpOption.ServerIdentifier)
      packet.options.ip(DhcpOption.RequestedIpAddress)
    } catch (error) {
      if (!(error instanceof DhcpDecodeError)) throw error
      emit({
        type: 'dhcp.ignored',
        mac: '',
        reason: `${error.message} (from ${datagram.address}:${datagram.port})`,
      })
      return []
    }
    if (msg.machine === undefined) {
      const netboot = isNetbootClient(msg.client.vendorClass)
      if (config.mode === 'proxy') {
        if (netboot) ignore(msg.mac, 'not in the machine directory: not answered (proxy mode)')
        return []
      }
      ignore(
        msg.mac,
        config.range === undefined
          ? 'not in the machine directory: not answered (no dynamic range)'
          : 'not in the machine directory: may lease from the dynamic range, never gets boot information',
      )
    }
    emitIn(msg)
    const replies = config.mode === 'full' ? fullMode(msg) : proxyMode(msg)
    for (const r of replies) emitOut(msg, r)
    return replies
  }

  return { handle }
}

// ---------------------------------------------------------------------------------------
// Sockets

export interface DhcpServer {
  close(): Promise<void>
}

function bind(socket: Socket, port: number, address: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'EACCES'
          ? ': run as root or grant CAP_NET_BIND_SERVICE'
          : error.code === 'EADDRINUSE'
            ? ': another DHCP server (dnsmasq?) holds it; stop it or use proxy mode beside it'
            : error.code === 'EADDRNOTAVAIL'
              ? ': that address is not on this machine'
              : ''
      reject(
        new Error(
          `Cannot start DHCP server: binding ${what} ${address}:${port} failed (${error.code})${hint}`,
          { cause: error },
        ),
      )
    }
    socket.once('error', onError)
    socket.bind({ port, address, exclusive: false }, () => {
      socket.off('error', onError)
      resolve()
    })
  })
}

function checkInterface(name: string, address: string): void {
  const addresses = networkInterfaces()[name]
  if (addresses === undefined) {
    throw new DhcpConfigError(`Cannot start DHCP server: network interface "${name}" does not exist`)
  }
  if (!addresses.some((a) => a.family === 'IPv4' && a.address === address)) {
    throw new DhcpConfigError(
      `Cannot start DHCP server: interface "${name}" does not have address ${address} (it has ${addresses.map((a) => a.address).join(', ') || 'none'})`,
    )
  }
}

/** Starts the DHCP service; resolves once every socket is bound. */
export async function serveDhcp(options: DhcpServerOptions): Promise<DhcpServer> {
  const handler = createDhcpHandler(options)
  if (options.skipInterfaceCheck !== true) checkInterface(options.interface, options.serverAddress)
  const emit = options.events ?? (() => {})
  const serverPort = options.ports?.server ?? DHCP_DEFAULTS.serverPort
  const proxyPort = options.ports?.proxy ?? DHCP_DEFAULTS.proxyPort
  const sockets: Socket[] = []
  const open = (): Socket => {
    const s = createSocket({ type: 'udp4', reuseAddr: true })
    sockets.push(s)
    return s
  }
  const closeAll = () =>
    Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(
      () => undefined,
    )

  const broadcasts = open()
  const own = open()
  const proxy = options.mode === 'proxy' ? open() : undefined
  const send = (r: DhcpReply) => {
    const socket = r.via === 'proxy' && proxy !== undefined ? proxy : own
    socket.send(encodeDhcp(r.packet), r.port, r.address, (error) => {
      if (error) {
        emit({
          type: 'pxe.warning',
          service: 'dhcp',
          message: `Cannot send DHCP reply to ${r.address}:${r.port}: ${error.message}`,
        })
      }
    })
  }
  const receive = (via: 'server' | 'proxy') => (bytes: Buffer, rinfo: RemoteInfo) => {
    let replies: DhcpReply[]
    try {
      replies = handler.handle({ bytes, address: rinfo.address, port: rinfo.port, via })
    } catch (error) {
      // A bug, not a bad packet (those are dropped inside): report it, keep serving.
      emit({
        type: 'pxe.warning',
        service: 'dhcp',
        message: `Cannot handle DHCP packet from ${rinfo.address}:${rinfo.port}: ${error instanceof Error ? error.message : String(error)}`,
      })
      return
    }
    for (const r of replies) send(r)
  }
  const runtimeError = (error: Error) =>
    emit({ type: 'pxe.warning', service: 'dhcp', message: `DHCP socket error: ${error.message}` })
  try {
    await bind(broadcasts, serverPort, '0.0.0.0', 'the broadcast socket')
    await bind(own, serverPort, options.serverAddress, 'the server socket')
    own.setBroadcast(true)
    if (proxy !== undefined) await bind(proxy, proxyPort, options.serverAddress, 'the proxyDHCP socket')
  } catch (error) {
    await closeAll()
    throw error
  }
  for (const s of sockets) s.on('error', runtimeError)
  broadcasts.on('message', receive('server'))
  own.on('message', receive('server'))
  proxy?.on('message', receive('proxy'))
  emit({
    type: 'pxe.listening',
    service: options.mode === 'proxy' ? 'proxydhcp' : 'dhcp',
    address: `${options.serverAddress}:${serverPort}`,
  })
  if (proxy !== undefined)
    emit({ type: 'pxe.listening', service: 'proxydhcp', address: `${options.serverAddress}:${proxyPort}` })
  return { close: closeAll }
}
