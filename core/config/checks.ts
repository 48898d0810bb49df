/**
 * Checks that span several fields of a config that already has the right shape:
 * uniqueness, addresses inside the subnet and outside the ranges, quorum, stable install disks.
 */
import {
  broadcastOf,
  defaultLoadBalancerPool,
  formatCidr,
  formatIPv4,
  formatRange,
  type IPv4,
  type IPv4Range,
  isHostAddress,
  parseCidr,
  parseIPv4,
  parseMac,
  parseRange,
  rangeContains,
  rangesOverlap,
  type Subnet,
  subnetContains,
} from '../../lib/ipv4/index.ts'
import type { PathSegment } from './diagnostics.ts'
import { type Config, TEST_OS } from './schema.ts'

export interface Finding {
  readonly severity: 'error' | 'warning'
  readonly path: readonly PathSegment[]
  readonly message: string
}

/** Values computed from the config, shown by `validate` and used by every layer. */
export interface Derived {
  readonly subnet: Subnet
  readonly loadBalancerPool: IPv4Range | undefined
  readonly loadBalancerPoolIsDefault: boolean
  readonly dhcpRange: IPv4Range | undefined
  readonly dns: readonly string[]
  readonly servers: number
  readonly agents: number
}

function ip(text: string): IPv4 {
  const value = parseIPv4(text)
  if (value === undefined)
    throw new TypeError(`Cannot read address: "${text}" passed the schema but is not IPv4`)
  return value
}

function range(text: string): IPv4Range {
  const value = parseRange(text)
  if ('error' in value)
    throw new TypeError(`Cannot read range: "${text}" passed the schema but ${value.error}`)
  return value
}

export function derive(config: Config): Derived {
  const subnet = parseCidr(config.network.subnet)
  if ('error' in subnet) throw new TypeError(`Cannot read subnet: "${config.network.subnet}" ${subnet.error}`)
  const explicitPool = config.cluster.loadBalancerPool
  return {
    subnet,
    loadBalancerPool: explicitPool === undefined ? defaultLoadBalancerPool(subnet) : range(explicitPool),
    loadBalancerPoolIsDefault: explicitPool === undefined,
    dhcpRange: config.network.dhcp.range === undefined ? undefined : range(config.network.dhcp.range),
    dns: config.network.dns ?? [config.network.gateway],
    servers: config.machines.filter((m) => m.role === 'server').length,
    agents: config.machines.filter((m) => m.role === 'agent').length,
  }
}

/** What the checks of checkConfig() share: the config, its derived values, and the finding helpers. */
interface Checker {
  readonly config: Config
  readonly d: Derived
  /** The subnet, formatted. */
  readonly cidr: string
  error(path: PathSegment[], message: string): void
  warn(path: PathSegment[], message: string): void
  /** Reports an address outside the subnet (or not a host address); true when inside. */
  inSubnet(path: PathSegment[], text: string, what: string): boolean
  /** Reports an address inside the DHCP range or the load-balancer pool. */
  reserved(path: PathSegment[], text: string, what: string): void
}

export function checkConfig(config: Config): Finding[] {
  const findings: Finding[] = []
  const c = _checker(config, findings)
  c.inSubnet(['network', 'gateway'], config.network.gateway, 'the gateway')
  _checkDhcpRange(c)
  _checkPool(c)
  c.reserved(['network', 'gateway'], config.network.gateway, 'the gateway')
  _checkController(c)
  _checkMachines(c)
  _checkDisks(c)
  _checkCluster(c)
  _checkExternal(c)
  return findings
}

function _checker(config: Config, findings: Finding[]): Checker {
  const d = derive(config)
  const cidr = formatCidr(d.subnet)
  const error = (path: PathSegment[], message: string) => findings.push({ severity: 'error', path, message })
  return {
    config,
    d,
    cidr,
    error,
    warn: (path, message) => findings.push({ severity: 'warning', path, message }),
    inSubnet(path, text, what) {
      if (isHostAddress(d.subnet, ip(text))) return true
      error(
        path,
        `"${text}" is outside the subnet ${cidr} (${what} must be a host address of network.subnet)`,
      )
      return false
    },
    reserved(path, text, what) {
      const value = ip(text)
      const pool = d.loadBalancerPool
      if (d.dhcpRange !== undefined && rangeContains(d.dhcpRange, value)) {
        error(
          path,
          `"${text}" is inside network.dhcp.range ${formatRange(d.dhcpRange)} (${what} needs an address outside the dynamic range)`,
        )
      } else if (pool !== undefined && rangeContains(pool, value)) {
        error(
          path,
          `"${text}" is inside the load-balancer pool ${formatRange(pool)} (${what} needs an address outside it${d.loadBalancerPoolIsDefault ? ', or set cluster.loadBalancerPool' : ''})`,
        )
      }
    },
  }
}

/** The controller (when given): a host address of the subnet, outside the range and the pool, not the gateway. */
function _checkController(c: Checker): void {
  const { controller, gateway } = c.config.network
  if (controller === undefined) return
  const path = ['network', 'controller']
  if (!c.inSubnet(path, controller, 'the controller')) return
  c.reserved(path, controller, 'the controller')
  if (controller === gateway) {
    c.error(
      path,
      `"${controller}" is the gateway's address (the controller is the machine that runs homelab, not the router: give it its own address, or remove network.controller to read it from network.interface)`,
    )
  }
}

/** The DHCP range: only in full mode, inside the subnet. */
function _checkDhcpRange({ config, d, cidr, error }: Checker): void {
  const dhcp = config.network.dhcp
  if (dhcp.mode === 'proxy' && dhcp.range !== undefined) {
    error(
      ['network', 'dhcp', 'range'],
      'is set but network.dhcp.mode is "proxy": the router leases addresses then (remove range, or set mode: full)',
    )
  }
  if (d.dhcpRange !== undefined) {
    if (!subnetContains(d.subnet, d.dhcpRange.start) || !subnetContains(d.subnet, d.dhcpRange.end)) {
      error(['network', 'dhcp', 'range'], `"${dhcp.range}" is not inside the subnet ${cidr}`)
    }
  }
}

/** The load-balancer pool: present (explicit on small subnets), inside the subnet, apart from the DHCP range. */
function _checkPool({ config, d, cidr, error }: Checker): void {
  if (d.loadBalancerPool === undefined) {
    error(
      ['cluster'],
      `loadBalancerPool is required: the subnet ${cidr} is a /27 or smaller, so there is no default pool (add cluster.loadBalancerPool, like ${formatIPv4(broadcastOf(d.subnet) - 8)}-${formatIPv4(broadcastOf(d.subnet) - 1)})`,
    )
  } else if (!d.loadBalancerPoolIsDefault) {
    const pool = d.loadBalancerPool
    if (!subnetContains(d.subnet, pool.start) || !subnetContains(d.subnet, pool.end)) {
      error(
        ['cluster', 'loadBalancerPool'],
        `"${config.cluster.loadBalancerPool}" is not inside the subnet ${cidr}`,
      )
    } else if (d.dhcpRange !== undefined && rangesOverlap(pool, d.dhcpRange)) {
      error(
        ['cluster', 'loadBalancerPool'],
        `"${config.cluster.loadBalancerPool}" overlaps network.dhcp.range ${formatRange(d.dhcpRange)} (make them disjoint)`,
      )
    }
  } else if (d.dhcpRange !== undefined && rangesOverlap(d.loadBalancerPool, d.dhcpRange)) {
    error(
      ['network', 'dhcp', 'range'],
      `"${config.network.dhcp.range}" overlaps the default load-balancer pool ${formatRange(d.loadBalancerPool)} (the last /27 of the subnet: move the range, or set cluster.loadBalancerPool)`,
    )
  }
}

/** Machines: unique names, MACs and addresses; addresses in the subnet, free, not the gateway's or controller's. */
function _checkMachines(c: Checker): void {
  const { config, error } = c
  const seen = {
    name: new Map<string, number>(),
    mac: new Map<string, number>(),
    ip: new Map<string, number>(),
  }
  config.machines.forEach((m, i) => {
    for (const key of ['name', 'mac', 'ip'] as const) {
      const value = key === 'mac' ? (parseMac(m.mac) ?? m.mac) : m[key]
      const first = seen[key].get(value)
      if (first !== undefined) {
        error(
          ['machines', i, key],
          `"${m[key]}" is already used by machines[${first}] (each ${key} must be unique)`,
        )
      } else {
        seen[key].set(value, i)
      }
    }
    const unicast = _unicastProblem(m.mac)
    if (unicast !== undefined) error(['machines', i, 'mac'], `"${m.mac}" is ${unicast}`)
    if (c.inSubnet(['machines', i, 'ip'], m.ip, 'a machine')) {
      c.reserved(['machines', i, 'ip'], m.ip, 'a machine')
      if (m.ip === config.network.gateway) {
        error(['machines', i, 'ip'], `"${m.ip}" is the gateway's address (give the machine its own address)`)
      }
      if (m.ip === config.network.controller) {
        error(
          ['machines', i, 'ip'],
          `"${m.ip}" is the controller's address (give the machine its own address)`,
        )
      }
    }
  })
}

/** Why a MAC cannot be a NIC's own address (multicast, broadcast, all zeros), or undefined when it can. */
function _unicastProblem(text: string): string | undefined {
  const mac = parseMac(text)
  if (mac === undefined) return undefined // the schema reported it
  const first = Number.parseInt(mac.slice(0, 2), 16)
  const fix = "copy the NIC's own address from the machine's firmware setup or `ip link` on it"
  if (/^(00:){5}00$/.test(mac)) return `all zeros, which no NIC has: ${fix}`
  if (/^(ff:){5}ff$/.test(mac)) return `the broadcast address, which no NIC has: ${fix}`
  if ((first & 1) === 1) {
    return `a multicast address (the lowest bit of its first byte is set), which no NIC has as its own: ${fix}`
  }
  return undefined
}

/**
 * Kernel enumeration names of whole disks (`sda`, `/dev/vdb`, `nvme0n1`, `mmcblk0`, `hda`): the
 * kernel hands them out in probe order, so on the next boot `sda` can be a USB stick.
 */
const ENUMERATED_DISK = /^(\/dev\/)?((s|v|h|xv)d[a-z]+|nvme\d+n\d+|mmcblk\d+)$/

/** Warns on install disks named by enumeration: the installer wipes whichever disk has that name. */
function _checkDisks(c: Checker): void {
  // The offline test OS writes no disk (docs/testos.md): the lab's names are harmless.
  if (c.config.os.iso === TEST_OS) return
  c.config.machines.forEach((m, i) => {
    if (!ENUMERATED_DISK.test(m.disk)) return
    c.warn(
      ['machines', i, 'disk'],
      `"${m.disk}" of ${m.name} is a kernel enumeration name, which can name another disk (a USB stick) when the installer runs, and that disk is wiped: use its stable link, /dev/disk/by-id/... (\`ls -l /dev/disk/by-id/\` on ${m.name} shows which one points at ${m.disk.replace(/^\/dev\//, '')})`,
    )
  })
}

/** The cluster: at least one server, an odd number, and an endpoint a server (or a free address) holds. */
function _checkCluster(c: Checker): void {
  const { config, d, error } = c
  if (d.servers === 0) {
    error(['machines'], 'has no machine with role: server (k3s needs at least one server)')
  } else if (d.servers % 2 === 0) {
    c.warn(
      ['machines'],
      `has ${d.servers} servers: an even number adds no fault tolerance to embedded etcd's quorum (use ${d.servers - 1} or ${d.servers + 1})`,
    )
  }
  const endpoint = config.cluster.endpoint
  if (!c.inSubnet(['cluster', 'endpoint'], endpoint, 'the control-plane endpoint')) return
  c.reserved(['cluster', 'endpoint'], endpoint, 'the control-plane endpoint')
  const owner = config.machines.find((m) => m.ip === endpoint)
  if (owner !== undefined && owner.role !== 'server') {
    error(
      ['cluster', 'endpoint'],
      `"${endpoint}" is the address of ${owner.name}, an agent (use a server's address, or a free address for a virtual IP)`,
    )
  }
  if (endpoint === config.network.gateway || endpoint === config.network.controller) {
    error(
      ['cluster', 'endpoint'],
      `"${endpoint}" is taken by the ${endpoint === config.network.gateway ? 'gateway' : 'controller'}`,
    )
  }
}

/** External services: the Cloudflare zone holds gitops.domain. */
function _checkExternal({ config, error }: Checker): void {
  const cf = config.external?.cloudflare
  if (cf !== undefined && config.gitops.domain !== cf.zone && !config.gitops.domain.endsWith(`.${cf.zone}`)) {
    error(
      ['external', 'cloudflare', 'zone'],
      `"${cf.zone}" does not contain gitops.domain "${config.gitops.domain}" (the zone must be the domain or a parent of it)`,
    )
  }
}
