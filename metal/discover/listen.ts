/**
 * `homelab discover`'s ears: a UDP socket on port 67 that only receives. Every DHCP request that
 * reaches the controller is described (client.ts) and handed on; nothing is ever sent, so no client
 * gets an offer from us and the network's own DHCP server works as before.
 *
 * Node's dgram cannot bind to a device: on a controller with several interfaces, broadcasts from
 * every segment arrive here (the docs say so). The socket shares the port (SO_REUSEADDR), so a DHCP
 * server running on the controller keeps its own.
 */
import { createSocket } from 'node:dgram'
import { decodeDhcp } from '../../lib/dhcp4/index.ts'
import { PXE_PORTS } from '../pxe/ports.ts'
import { describeClient, type SeenClient } from './client.ts'

export interface ListenOptions {
  /** Stops listening when aborted. */
  readonly signal: AbortSignal
  readonly onClient: (client: SeenClient) => void
  /** @default 67 */
  readonly port?: number
  /** @default '0.0.0.0' (limited broadcasts reach only a socket bound to the wildcard address) */
  readonly address?: string
  /** Called once the socket is bound (tests start their clients then). */
  readonly onListening?: () => void
}

/** Listens until the signal is aborted; rejects only when the port cannot be bound. */
export async function listenForClients(options: ListenOptions): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  const port = options.port ?? PXE_PORTS.dhcp
  const address = options.address ?? '0.0.0.0'
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (cause: NodeJS.ErrnoException) => {
      socket.close()
      reject(
        new Error(
          `Cannot listen for DHCP requests: binding ${address}:${port} failed (${cause.code ?? cause.message})${cause.code === 'EACCES' ? ': run as root (sudo), or grant CAP_NET_BIND_SERVICE to node' : ''}`,
          { cause },
        ),
      )
    })
    socket.bind({ port, address }, () => {
      socket.removeAllListeners('error')
      resolve()
    })
  })
  socket.on('message', (bytes) => {
    try {
      const client = describeClient(decodeDhcp(bytes))
      if (client !== undefined) options.onClient(client)
    } catch {
      // not a DHCP packet: dropped
    }
  })
  socket.on('error', () => undefined)
  options.onListening?.()
  if (!options.signal.aborted) {
    await new Promise<void>((resolve) =>
      options.signal.addEventListener('abort', () => resolve(), { once: true }),
    )
  }
  await new Promise<void>((resolve) => socket.close(() => resolve()))
}
