import { formatCidr, formatRange } from '../../lib/ipv4/index.ts'
import { bootMethodOf } from './boot-methods.ts'
import type { LoadedConfig } from './load.ts'
import { TEST_OS } from './schema.ts'

/** One machine in the config summary. */
export interface MachineSummary {
  readonly name: string
  readonly role: 'server' | 'agent'
  readonly mac: string
  readonly ip: string
  readonly disk: string
  readonly nic: string
  readonly firmware: string
  readonly boot: string
}

/** What `homelab validate` shows of a config: the `config.summary` event. */
export interface ConfigSummary {
  readonly type: 'config.summary'
  readonly file: string
  readonly interface: string
  readonly subnet: string
  readonly gateway: string
  readonly controller: string | null
  readonly dns: readonly string[]
  readonly dhcpMode: 'proxy' | 'full'
  readonly dhcpRange: string | null
  readonly endpoint: string
  readonly endpointKind: 'server' | 'virtual-ip'
  readonly loadBalancerPool: string
  readonly loadBalancerPoolSize: number
  readonly loadBalancerPoolIsDefault: boolean
  readonly k3sVersion: string
  readonly os: string
  readonly domain: string
  readonly machines: readonly MachineSummary[]
}

export function summarize(loaded: LoadedConfig): ConfigSummary {
  const { config, derived } = loaded
  const pool = derived.loadBalancerPool
  const endpointOwner = config.machines.find((m) => m.ip === config.cluster.endpoint)
  const iso =
    config.os.iso === TEST_OS ? 'offline test OS (not Fedora: lab and tests only)' : config.os.iso.url
  return {
    type: 'config.summary',
    file: loaded.file,
    interface: config.network.interface,
    subnet: formatCidr(derived.subnet),
    gateway: config.network.gateway,
    controller: config.network.controller ?? null,
    dns: derived.dns,
    dhcpMode: config.network.dhcp.mode,
    dhcpRange: derived.dhcpRange === undefined ? null : formatRange(derived.dhcpRange),
    endpoint: config.cluster.endpoint,
    endpointKind: endpointOwner === undefined ? 'virtual-ip' : 'server',
    loadBalancerPool: pool === undefined ? '' : formatRange(pool),
    loadBalancerPoolSize: pool === undefined ? 0 : pool.end - pool.start + 1,
    loadBalancerPoolIsDefault: derived.loadBalancerPoolIsDefault,
    k3sVersion: config.cluster.k3sVersion,
    os: `${config.os.profile} ${config.os.release} from ${iso}`,
    domain: config.gitops.domain,
    machines: config.machines.map((m) => ({
      name: m.name,
      role: m.role,
      mac: m.mac.toLowerCase().replaceAll('-', ':'),
      ip: m.ip,
      disk: m.disk,
      nic: m.nic,
      firmware: m.firmware ?? 'uefi',
      boot: bootMethodOf(m).summary,
    })),
  }
}
