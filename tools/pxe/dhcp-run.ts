/**
 * Runs the DHCP service alone: for tests and benchmarks that need it as a process
 * (inside a network namespace), and for trying it by hand.
 *
 *   tools/node24 tools/pxe/dhcp-run.ts --config '{"interface":"eth0","serverAddress":"10.99.0.2",
 *     "mode":"full","subnetMask":"255.255.255.0","machines":[{"name":"n1","mac":"..","ip":".."}]}'
 *
 * The JSON holds DhcpServerOptions with `machines` as a list. Prints every boot event
 * as one JSON line on stdout ('pxe.listening' once ready; only that with "quiet": true).
 * Stops on SIGTERM or SIGINT.
 */

import { parseArgs } from 'node:util'
import { jsonLine } from '../../core/log/sanitize.ts'
import { parseMac } from '../../lib/ipv4/index.ts'
import { type DhcpServerOptions, serveDhcp } from '../../metal/pxe/dhcp.ts'

interface RunConfig extends Omit<DhcpServerOptions, 'machines' | 'events'> {
  readonly machines: readonly { readonly name: string; readonly mac: string; readonly ip: string }[]
  readonly quiet?: boolean
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } })
  if (values.config === undefined) {
    process.stderr.write('dhcp-run: --config JSON is required\n')
    return 2
  }
  const config = JSON.parse(values.config) as RunConfig
  const byMac = new Map(config.machines.map((m) => [parseMac(m.mac) ?? m.mac, m]))
  const byIp = new Map(config.machines.map((m) => [m.ip, m]))
  const server = await serveDhcp({
    ...config,
    machines: { byMac: (mac) => byMac.get(mac), byIp: (ip) => byIp.get(ip) },
    events: (event) => {
      if (config.quiet !== true || event.type === 'pxe.listening') process.stdout.write(jsonLine(event))
    },
  })
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  await server.close()
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`dhcp-run: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
