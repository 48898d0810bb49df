/**
 * Wake-on-LAN: magic packets (6 x 0xff, then the MAC 16 times) sent as UDP
 * broadcasts on port 9.
 *
 * The socket is bound to the controller's address on the configured interface: for
 * the limited broadcast 255.255.255.255, Linux then picks the device that owns the
 * source address, so a controller with several interfaces wakes machines on the
 * right segment (a 0.0.0.0 socket would use the default route's). The limited
 * broadcast also reaches hosts that have no address yet, which a subnet-directed
 * broadcast (e.g. 192.168.1.255) does not.
 */
import { createSocket } from 'node:dgram'
import { macToBytes } from '../../lib/ipv4/index.ts'

export const WOL_PORT = 9

/** The 102-byte magic packet for a MAC. */
export function magicPacket(mac: string): Uint8Array {
  const target = macToBytes(mac)
  const packet = new Uint8Array(6 + 16 * 6).fill(0xff, 0, 6)
  for (let i = 0; i < 16; i++) packet.set(target, 6 + i * 6)
  return packet
}

export interface WakeOptions {
  /** The controller's address on the machines' interface (the socket is bound to it). */
  readonly from: string
  /** Where to send. @default '255.255.255.255' */
  readonly broadcast?: string
  readonly port?: number
  /** Packets per MAC: magic packets are fire-and-forget, so send a few. @default 3 */
  readonly repeat?: number
}

/** Sends magic packets for each MAC; resolves when they are handed to the kernel. */
export async function wake(macs: readonly string[], options: WakeOptions): Promise<void> {
  const packets = macs.map(magicPacket)
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (cause) =>
        reject(new Error(`Cannot send Wake-on-LAN packets: binding ${options.from} failed`, { cause })),
      )
      socket.bind({ address: options.from, port: 0 }, () => resolve())
    })
    socket.setBroadcast(true)
    const repeat = options.repeat ?? 3
    for (let round = 0; round < repeat; round++) {
      for (const packet of packets) {
        await new Promise<void>((resolve, reject) => {
          socket.send(packet, options.port ?? WOL_PORT, options.broadcast ?? '255.255.255.255', (cause) =>
            cause
              ? reject(
                  new Error(`Cannot send Wake-on-LAN packet to ${options.broadcast ?? '255.255.255.255'}`, {
                    cause,
                  }),
                )
              : resolve(),
          )
        })
      }
    }
  } finally {
    socket.close()
  }
}
