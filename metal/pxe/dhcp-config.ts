/**
 * The DHCP service's options, defaults and their validation: `resolveConfig()` turns the
 * options into checked, parsed values once, before any socket opens, naming the bad option.
 */

import { formatIPv4, type IPv4, parseIPv4 } from '../../lib/ipv4/index.ts'
import type { BootFiles } from './boot-decision.ts'
import type { BootEventSink } from './events.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { PXE_PORTS } from './ports.ts'

export interface DhcpServerOptions {
  /** The interface to serve (e.g. "enp1s0"); `serverAddress` must be one of its addresses. */
  readonly interface: string
  /** The controller's IPv4 address on that interface. */
  readonly serverAddress: string
  readonly mode: 'proxy' | 'full'
  /** The only machines that ever get boot information. */
  readonly machines: MachineDirectory
  /** Boot file names (default: DEFAULT_BOOT_FILES from boot-decision.ts). */
  readonly bootFiles?: BootFiles
  /** Full mode: the subnet mask handed out, e.g. "255.255.255.0". Required in full mode. */
  readonly subnetMask?: string
  /** Full mode: the default gateway (option 3). */
  readonly gateway?: string
  /** Full mode: DNS servers (option 6). */
  readonly dns?: readonly string[]
  /** Full mode: lease time in seconds. @default 3600 */
  readonly leaseSeconds?: number
  /** Full mode: addresses for clients not in the directory; none when absent. */
  readonly dynamicRange?: { readonly start: string; readonly end: string }
  readonly events?: BootEventSink
  /** Tests only: ports to use instead of 67 (server), 68 (client) and 4011 (proxy). */
  readonly ports?: { readonly server?: number; readonly client?: number; readonly proxy?: number }
  /** Tests only: skip the check that `serverAddress` is on `interface`. */
  readonly skipInterfaceCheck?: boolean
}

export const DHCP_DEFAULTS = {
  leaseSeconds: 3600,
  serverPort: PXE_PORTS.dhcp,
  clientPort: 68,
  proxyPort: PXE_PORTS.proxyDhcp,
  /** How long an offered dynamic address stays reserved for the client. */
  offerHoldSeconds: 60,
  /** How long a generic client that mistook our proxy offer for a lease gets no proxy offer. */
  proxyQuietSeconds: 60,
} as const

export class DhcpConfigError extends Error {
  readonly code = 'HOMELAB_DHCP_CONFIG'
  override name = 'DhcpConfigError'
}

export interface DhcpConfig {
  readonly mode: 'proxy' | 'full'
  readonly server: IPv4
  readonly serverText: string
  readonly machines: MachineDirectory
  readonly bootFiles: BootFiles | undefined
  readonly mask: IPv4 | undefined
  readonly gateway: IPv4 | undefined
  readonly dns: readonly IPv4[]
  readonly leaseSeconds: number
  readonly range: { readonly start: IPv4; readonly end: IPv4 } | undefined
  readonly clientPort: number
  readonly serverPort: number
  readonly emit: BootEventSink
}

function ipOption(name: string, value: string | undefined): IPv4 | undefined {
  if (value === undefined) return undefined
  const ip = parseIPv4(value)
  if (ip === undefined) {
    throw new DhcpConfigError(
      `Cannot start DHCP server: ${name} "${value}" is not a dotted-decimal IPv4 address`,
    )
  }
  return ip
}

export function resolveConfig(options: DhcpServerOptions): DhcpConfig {
  const server = ipOption('serverAddress', options.serverAddress) as IPv4
  if (options.mode !== 'proxy' && options.mode !== 'full') {
    throw new DhcpConfigError(
      `Cannot start DHCP server: mode "${String(options.mode)}" is not "proxy" or "full"`,
    )
  }
  const mask = ipOption('subnetMask', options.subnetMask)
  if (options.mode === 'full' && mask === undefined) {
    throw new DhcpConfigError('Cannot start DHCP server: full mode needs subnetMask (e.g. "255.255.255.0")')
  }
  const leaseSeconds = options.leaseSeconds ?? DHCP_DEFAULTS.leaseSeconds
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 60 || leaseSeconds > 0xfffffffe) {
    throw new DhcpConfigError(
      `Cannot start DHCP server: leaseSeconds ${leaseSeconds} is not a whole number of seconds from 60 up`,
    )
  }
  let range: DhcpConfig['range']
  if (options.dynamicRange !== undefined) {
    const start = ipOption('dynamicRange.start', options.dynamicRange.start) as IPv4
    const end = ipOption('dynamicRange.end', options.dynamicRange.end) as IPv4
    if (end < start) {
      throw new DhcpConfigError(
        `Cannot start DHCP server: dynamicRange ${options.dynamicRange.start}-${options.dynamicRange.end} ends before it starts`,
      )
    }
    if (
      mask !== undefined &&
      ((start & mask) >>> 0 !== (server & mask) >>> 0 || (end & mask) >>> 0 !== (server & mask) >>> 0)
    ) {
      throw new DhcpConfigError(
        `Cannot start DHCP server: dynamicRange ${options.dynamicRange.start}-${options.dynamicRange.end} is not inside the server's subnet`,
      )
    }
    range = { start, end }
  }
  return {
    mode: options.mode,
    server,
    serverText: formatIPv4(server),
    machines: options.machines,
    bootFiles: options.bootFiles,
    mask,
    gateway: ipOption('gateway', options.gateway),
    dns: (options.dns ?? []).map((d, i) => ipOption(`dns[${i}]`, d) as IPv4),
    leaseSeconds,
    range,
    clientPort: options.ports?.client ?? DHCP_DEFAULTS.clientPort,
    serverPort: options.ports?.server ?? DHCP_DEFAULTS.serverPort,
    emit: options.events ?? (() => {}),
  }
}
