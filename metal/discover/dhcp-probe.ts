/**
 * Is there a DHCP server on this segment? One DHCPDISCOVER, broadcast from the controller's address,
 * then the offers are listed. It is never followed by a DHCPREQUEST, so no server leases anything:
 * an offer is only a proposal (RFC 2131 §4.4.1: the client must request it to get it). Used by
 * `homelab doctor` (metal/provision/doctor.ts) and `homelab init`.
 */
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import {
  clientRequest,
  DhcpOption,
  decodeDhcp,
  encodeDhcp,
  MessageType,
  optUint8,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4, ipv4FromBytes, parseMac } from '../../lib/ipv4/index.ts'

export interface DhcpOffer {
  /** The server identifier (option 54), or "unknown". */
  readonly server: string
  /** The address offered; undefined for a proxyDHCP answer (yiaddr 0). */
  readonly offered?: string
  /** The router it names (option 3), if any. */
  readonly router?: string
}

export interface DhcpProbeOptions {
  readonly interface: string
  /** The controller's address on the interface: the sender is bound to it, so the DISCOVER leaves there. */
  readonly address: string
  /** How long to listen for offers (dnsmasq pings an address for ~3 s before offering it). */
  readonly waitMs: number
}

export type DhcpProbeResult =
  | { readonly ok: true; readonly offers: readonly DhcpOffer[] }
  | { readonly ok: false; readonly reason: string }

function bindUdp(port: number, address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.once('error', (err) => {
      socket.close()
      reject(err)
    })
    socket.bind({ port, address }, () => {
      socket.removeAllListeners('error')
      resolve(socket)
    })
  })
}

/** Broadcasts one DHCPDISCOVER (the interface's own MAC as chaddr) and collects the offers. */
export async function probeDhcp(options: DhcpProbeOptions): Promise<DhcpProbeResult> {
  const mac =
    parseMac(networkInterfaces()[options.interface]?.[0]?.mac ?? '') ??
    `02:${randomBytes(5)
      .toString('hex')
      .replace(/(..)(?!$)/g, '$1:')}`
  let receiver: Socket | undefined
  let sender: Socket | undefined
  try {
    receiver = await bindUdp(68, '0.0.0.0')
    sender = await bindUdp(68, options.address)
    sender.setBroadcast(true)
  } catch (err) {
    receiver?.close()
    return { ok: false, reason: (err as Error).message }
  }
  const offers = new Map<string, DhcpOffer>()
  const xid = randomBytes(4).readUInt32BE(0)
  receiver.on('message', (bytes) => {
    try {
      const p = decodeDhcp(bytes)
      if (p.xid !== xid || p.op !== 2) return
      const id = p.options.get(DhcpOption.ServerIdentifier)
      const server = id !== undefined && id.length === 4 ? formatIPv4(ipv4FromBytes(id)) : 'unknown'
      const router = p.options.get(DhcpOption.Router)
      offers.set(server, {
        server,
        ...(p.yiaddr === 0 ? {} : { offered: formatIPv4(p.yiaddr) }),
        ...(router !== undefined && router.length >= 4 ? { router: formatIPv4(ipv4FromBytes(router)) } : {}),
      })
    } catch {
      // not a DHCP reply
    }
  })
  const discover = encodeDhcp(
    clientRequest({ mac, xid, options: [[DhcpOption.MessageType, optUint8(MessageType.Discover)]] }),
  )
  try {
    await new Promise<void>((resolve, reject) =>
      sender?.send(discover, 67, '255.255.255.255', (err) => (err ? reject(err) : resolve())),
    )
    await new Promise((r) => setTimeout(r, options.waitMs))
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  } finally {
    receiver.close()
    sender.close()
  }
  return { ok: true, offers: [...offers.values()] }
}

/** "10.0.0.1 (offered 10.0.0.120)" or "10.0.0.2 (no address: a proxyDHCP server)". */
export function describeOffer(offer: DhcpOffer): string {
  return `${offer.server} (${offer.offered === undefined ? 'no address (a proxyDHCP server)' : `offered ${offer.offered}`})`
}
