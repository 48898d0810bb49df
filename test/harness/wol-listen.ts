/**
 * Listens for Wake-on-LAN magic packets inside a test namespace and prints
 * "WAKE <mac>" for each one received; a test then powers on that VM. Run as
 * `node test/harness/wol-listen.ts` inside a namespace wired to the bridge.
 */
import { createSocket } from 'node:dgram'

const socket = createSocket({ type: 'udp4', reuseAddr: true })
socket.on('message', (msg) => {
  if (msg.length < 102 || !msg.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return
  const mac = Array.from(msg.subarray(6, 12), (b) => b.toString(16).padStart(2, '0')).join(':')
  for (let i = 1; i < 16; i++) if (!msg.subarray(6 + i * 6, 12 + i * 6).equals(msg.subarray(6, 12))) return
  process.stdout.write(`WAKE ${mac}\n`)
})
socket.bind(9, '0.0.0.0', () => process.stdout.write('LISTENING\n'))
