/**
 * A config read leniently: what `homelab discover` and `homelab machine add` need (the network, the
 * reserved ranges, the machines so far) from a file that may not validate yet, such as the one
 * `homelab init` writes before any machine is known. Then the free addresses and names to propose.
 */
import { parseDocument } from 'yaml'
import {
  broadcastOf,
  defaultLoadBalancerPool,
  formatIPv4,
  type IPv4,
  type IPv4Range,
  parseCidr,
  parseIPv4,
  parseMac,
  parseRange,
  rangeContains,
  type Subnet,
} from '../../lib/ipv4/index.ts'

export interface DraftMachine {
  readonly name: string
  /** Normalised (lower case, colons) when it is a MAC; as written otherwise. */
  readonly mac: string
  readonly ip: string
  readonly role: string
}

export interface Draft {
  readonly interface?: string
  readonly subnet?: Subnet
  readonly gateway?: IPv4
  readonly controller?: IPv4
  readonly endpoint?: IPv4
  readonly dhcpRange?: IPv4Range
  readonly loadBalancerPool?: IPv4Range
  readonly machines: readonly DraftMachine[]
}

/** Reads what it can; fields that are missing or malformed are left out. */
export function readDraft(text: string): Draft {
  const plain = parseDocument(text).toJS({ maxAliasCount: 100 }) as unknown
  const at = (...path: string[]): unknown => {
    let v: unknown = plain
    for (const p of path)
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined
    return v
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const ip = (v: unknown) => (typeof v === 'string' ? parseIPv4(v) : undefined)
  const range = (v: unknown) => {
    const r = typeof v === 'string' ? parseRange(v) : undefined
    return r === undefined || 'error' in r ? undefined : r
  }
  const cidr =
    typeof at('network', 'subnet') === 'string' ? parseCidr(at('network', 'subnet') as string) : undefined
  const subnet = cidr === undefined || 'error' in cidr ? undefined : cidr
  const list = at('machines')
  const machines = (Array.isArray(list) ? list : []).flatMap((m): DraftMachine[] => {
    if (m === null || typeof m !== 'object') return []
    const r = m as Record<string, unknown>
    const mac = String(r.mac ?? '')
    return [
      {
        name: String(r.name ?? ''),
        mac: parseMac(mac) ?? mac,
        ip: String(r.ip ?? ''),
        role: String(r.role ?? ''),
      },
    ]
  })
  const pool =
    range(at('cluster', 'loadBalancerPool')) ??
    (subnet === undefined ? undefined : defaultLoadBalancerPool(subnet))
  return {
    ...optional('interface', str(at('network', 'interface'))),
    ...optional('subnet', subnet),
    ...optional('gateway', ip(at('network', 'gateway'))),
    ...optional('controller', ip(at('network', 'controller'))),
    ...optional('endpoint', ip(at('cluster', 'endpoint'))),
    ...optional('dhcpRange', range(at('network', 'dhcp', 'range'))),
    ...optional('loadBalancerPool', pool),
    machines,
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}

/** Where proposals start: .10 of the subnet, as a person would leave the first few to the router. */
const FIRST_HOST_OFFSET = 10

/**
 * The next `count` host addresses of the subnet that nothing holds: not a machine's, the gateway's,
 * the controller's or the endpoint's, not in dhcp.range nor in the load-balancer pool, and not in
 * `taken` (e.g. the controller's address read from its interface, or an address a router offered).
 */
export function nextFreeAddresses(draft: Draft, count: number, taken: readonly IPv4[] = []): string[] {
  const subnet = draft.subnet
  if (subnet === undefined) return []
  const held = new Set<number>(taken)
  for (const m of draft.machines) {
    const v = parseIPv4(m.ip)
    if (v !== undefined) held.add(v)
  }
  for (const v of [draft.gateway, draft.controller, draft.endpoint]) if (v !== undefined) held.add(v)
  const out: string[] = []
  const last = broadcastOf(subnet) - 1
  const first = Math.min(subnet.network + FIRST_HOST_OFFSET, last)
  for (let v = first; v <= last && out.length < count; v++) {
    if (held.has(v)) continue
    if (draft.dhcpRange !== undefined && rangeContains(draft.dhcpRange, v)) continue
    if (draft.loadBalancerPool !== undefined && rangeContains(draft.loadBalancerPool, v)) continue
    out.push(formatIPv4(v))
  }
  return out
}

/** Names like metal0, metal1, ...: the next `count` of `prefix`N that no machine has. */
export function nextFreeNames(draft: Draft, count: number, prefix = 'metal'): string[] {
  const used = new Set(draft.machines.map((m) => m.name))
  const out: string[] = []
  for (let n = 0; out.length < count; n++) if (!used.has(`${prefix}${n}`)) out.push(`${prefix}${n}`)
  return out
}
