/**
 * Whether a config describes a lab: the lab installs only the offline test OS, needs the
 * controller's address to give its interface, and leases the router's range .150-.199.
 * Pure: every problem comes with what to change in homelab.yaml.
 */
import type { Config } from '../core/config/schema.ts'
import { TEST_OS } from '../core/config/schema.ts'
import {
  formatIPv4,
  type IPv4,
  type IPv4Range,
  maskOf,
  parseIPv4,
  rangeContains,
  type Subnet,
} from '../lib/ipv4/index.ts'

export class LabConfigError extends Error {
  readonly code = 'HOMELAB_LAB_CONFIG'
  override name = 'LabConfigError'
}

/** The home router's DHCP range: .150-.199 of the subnet (a /24 or larger). */
export function routerRange(subnet: Subnet): IPv4Range {
  return { start: (subnet.network + 150) >>> 0, end: (subnet.network + 199) >>> 0 }
}

/** Problems that make the config unusable for the lab; empty when it is a lab config. */
export function labConfigProblems(config: Config, subnet: Subnet): string[] {
  const problems: string[] = []
  if (config.os.iso !== TEST_OS)
    problems.push(
      'os.iso is an ISO download, but the lab installs only the offline test OS: set `os.iso: test-os` ' +
        '(the shipped homelab.yaml is a lab config; for real machines use `homelab metal` without the lab)',
    )
  if (config.network.controller === undefined)
    problems.push(
      'network.controller is not set: the lab gives that address to network.interface; set it, e.g. `controller: ' +
        `${formatIPv4((subnet.network + 2) >>> 0)}\``,
    )
  if (subnet.prefix > 24)
    problems.push(
      `network.subnet is a /${subnet.prefix}: the lab needs a /24 or larger (its router leases .150-.199), e.g. ${formatIPv4((subnet.network & maskOf(24)) >>> 0)}/24`,
    )
  else {
    const range = routerRange(subnet)
    const taken: Array<[string, string | undefined]> = [
      ['network.gateway', config.network.gateway],
      ['network.controller', config.network.controller],
      ...config.machines.map((m, i): [string, string] => [`machines[${i}].ip (${m.name})`, m.ip]),
    ]
    for (const [field, text] of taken) {
      const ip: IPv4 | undefined = text === undefined ? undefined : parseIPv4(text)
      if (ip !== undefined && rangeContains(range, ip))
        problems.push(
          `${field} ${text} is in the lab router's DHCP range ${formatIPv4(range.start)}-${formatIPv4(range.end)}: pick an address outside it`,
        )
    }
  }
  return problems
}
