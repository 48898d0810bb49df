/** Finds the controller's address on the configured interface, with a clear error when it is not there. */
import { networkInterfaces } from 'node:os'
import { formatCidr, isHostAddress, parseIPv4, type Subnet } from '../../lib/ipv4/index.ts'

export class InterfaceError extends Error {
  readonly code = 'HOMELAB_INTERFACE'
  override name = 'InterfaceError'
}

/** Returns the interface's IPv4 address inside the subnet. */
export function addressOnInterface(name: string, subnet: Subnet, interfaces = networkInterfaces()): string {
  const addresses = interfaces[name]
  if (addresses === undefined) {
    const present = Object.keys(interfaces).sort().join(', ')
    throw new InterfaceError(
      `Cannot find network interface "${name}" (present: ${present}): set network.interface in homelab.yaml, or for the lab run \`homelab lab up\``,
    )
  }
  const inSubnet = addresses.find((a) => {
    if (a.family !== 'IPv4') return false
    const ip = parseIPv4(a.address)
    return ip !== undefined && isHostAddress(subnet, ip)
  })
  if (inSubnet === undefined) {
    const have = addresses.filter((a) => a.family === 'IPv4').map((a) => a.cidr ?? a.address)
    throw new InterfaceError(
      `Cannot use network interface "${name}": it has no address in ${formatCidr(subnet)} (it has ${have.length === 0 ? 'no IPv4 address' : have.join(', ')}): add one, e.g. \`ip addr add ADDRESS/${subnet.prefix} dev ${name}\`, or fix network.subnet`,
    )
  }
  return inSubnet.address
}
