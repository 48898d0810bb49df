/**
 * The lab's power daemon: run by `homelab lab up` inside the switch namespace,
 *
 *   ip netns exec <prefix>-sw node lab/power-daemon.ts --state <state>
 *
 * It listens on UDP port 9 for Wake-on-LAN magic packets and powers on the lab's machines
 * (lab/power.ts). The port is bound exclusively: a second daemon in the same
 * namespace fails to start instead of powering machines on twice. SIGTERM stops it;
 * machines that are on stay on (`homelab lab down` ends them by PID).
 */
import { createSocket } from 'node:dgram'
import { appendFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type PowerSpec, PowerSwitch } from './power.ts'
import { labPaths, readJson, WOL_PORT } from './state.ts'

const { values } = parseArgs({ options: { state: { type: 'string' } } })
if (values.state === undefined) {
  process.stderr.write('usage: power-daemon.ts --state STATE_DIR\n')
  process.exit(2)
}
const paths = labPaths(values.state)
const log = (line: string) => appendFileSync(paths.powerLog, `${new Date().toISOString()} ${line}\n`)

const spec = await readJson<PowerSpec>(paths.powerJson)
if (spec === undefined) {
  log(`cannot start: ${paths.powerJson} is missing (run \`homelab lab up\`)`)
  process.exit(1)
}
const power = new PowerSwitch(spec, paths, log)
await power.adopt()

const socket = createSocket({ type: 'udp4', reuseAddr: false })
socket.on('message', (packet, from) => {
  void power.handle(packet, `${from.address}:${from.port}`)
})
socket.on('error', (err) => {
  log(`cannot listen on UDP ${WOL_PORT}: ${err.message}`)
  process.exit(1)
})
socket.bind({ port: WOL_PORT, address: '0.0.0.0', exclusive: true }, () => {
  log(
    `listening for magic packets on UDP ${WOL_PORT} (pid ${process.pid}); machines: ${spec.machines.map((m) => `${m.name} ${m.mac}`).join(', ')}`,
  )
})

const stop = () => {
  power.close()
  socket.close()
  log('stopped (machines that are on stay on)')
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
