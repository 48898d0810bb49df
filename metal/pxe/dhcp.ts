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
 * The protocol logic is `createDhcpHandler()` (dhcp-handler.ts): packets in, replies out,
 * no sockets, so it can be tested and measured on its own. `serveDhcp()` adds the sockets.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import { encodeDhcp } from '../../lib/dhcp4/index.ts'
import { DHCP_DEFAULTS, DhcpConfigError, type DhcpServerOptions } from './dhcp-config.ts'
import { createDhcpHandler, type DhcpDatagram } from './dhcp-handler.ts'
import type { DhcpReply } from './dhcp-reply.ts'

// The options, handler and reply type live in their own files; these names stay importable from here.
export {
  createDhcpHandler,
  DHCP_DEFAULTS,
  DhcpConfigError,
  type DhcpDatagram,
  type DhcpReply,
  type DhcpServerOptions,
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
