/**
 * A stand-in for a machine's Wake-on-LAN power-on: listens on UDP port 9 inside a
 * test namespace and, on a magic packet for its MAC, runs a command once (the
 * "machine" booting). Prints POWER-ON when it does. Run inside the namespace:
 *
 *   node test/harness/wol-power.ts MAC -- command args...
 */
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'

const [mac, sep, ...command] = process.argv.slice(2)
if (mac === undefined || sep !== '--' || command.length === 0) {
  process.stderr.write('usage: wol-power.ts MAC -- command [args...]\n')
  process.exit(2)
}
const want = Buffer.concat([
  Buffer.alloc(6, 0xff),
  ...Array.from({ length: 16 }, () => Buffer.from(mac.replaceAll(':', ''), 'hex')),
])
const socket = createSocket({ type: 'udp4', reuseAddr: true })
let powered = false
socket.on('message', (msg) => {
  if (powered || !msg.subarray(0, 102).equals(want)) return
  powered = true
  process.stdout.write('POWER-ON\n')
  const child = spawn(command[0] as string, command.slice(1), { stdio: 'inherit' })
  child.on('close', (code) => {
    process.stdout.write(`POWER-OFF ${code}\n`)
    socket.close()
  })
  process.once('SIGTERM', () => child.kill('SIGTERM'))
})
socket.bind(9, '0.0.0.0', () => process.stdout.write('LISTENING\n'))
