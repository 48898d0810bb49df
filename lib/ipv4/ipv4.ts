/**
 * IPv4 addresses, CIDR subnets and MAC addresses: strict parsing and small arithmetic.
 *
 * Written here on purpose: common npm packages read "010.0.0.1" as octal. This parser
 * accepts only the dotted-decimal form with no leading zeros, so a typo never becomes
 * a different address.
 */

/** An IPv4 address as an unsigned 32-bit integer. */
export type IPv4 = number

const OCTET = /^(0|[1-9][0-9]{0,2})$/

/** Parses dotted-decimal IPv4 ("192.168.1.10"); returns undefined for anything else. */
export function parseIPv4(text: string): IPv4 | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined
    const octet = Number(part)
    if (octet > 255) return undefined
    value = value * 256 + octet
  }
  return value
}

export function formatIPv4(ip: IPv4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.')
}

export function ipv4FromBytes(bytes: Uint8Array, offset = 0): IPv4 {
  if (offset + 4 > bytes.length)
    throw new RangeError(`Cannot read IPv4 address: needs 4 bytes at offset ${offset}`)
  return (
    (bytes[offset] as number) * 0x1000000 +
    ((bytes[offset + 1] as number) << 16) +
    ((bytes[offset + 2] as number) << 8) +
    (bytes[offset + 3] as number)
  )
}

/** An IPv4 subnet: network address and prefix length. */
export interface Subnet {
  readonly network: IPv4
  readonly prefix: number
}

/** Parses "10.0.0.0/24". Host bits must be zero so the written subnet is the real one. */
export function parseCidr(text: string): Subnet | { error: string } {
  const slash = text.indexOf('/')
  if (slash < 0) return { error: 'has no prefix length' }
  const ip = parseIPv4(text.slice(0, slash))
  if (ip === undefined) return { error: 'has an invalid address part' }
  const prefixText = text.slice(slash + 1)
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText) || Number(prefixText) > 32) {
    return { error: 'has an invalid prefix length' }
  }
  const prefix = Number(prefixText)
  const network = (ip & maskOf(prefix)) >>> 0
  if (network !== ip) return { error: `has host bits set (did you mean ${formatIPv4(network)}/${prefix}?)` }
  return { network, prefix }
}

export function maskOf(prefix: number): IPv4 {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

export function broadcastOf(subnet: Subnet): IPv4 {
  return (subnet.network | ~maskOf(subnet.prefix)) >>> 0
}

export function formatCidr(subnet: Subnet): string {
  return `${formatIPv4(subnet.network)}/${subnet.prefix}`
}

/** True when ip is inside the subnet (network and broadcast addresses included). */
export function subnetContains(subnet: Subnet, ip: IPv4): boolean {
  return (ip & maskOf(subnet.prefix)) >>> 0 === subnet.network
}

/** True when ip is a usable host address of the subnet (not network, not broadcast, for prefixes below /31). */
export function isHostAddress(subnet: Subnet, ip: IPv4): boolean {
  if (!subnetContains(subnet, ip)) return false
  if (subnet.prefix >= 31) return true
  return ip !== subnet.network && ip !== broadcastOf(subnet)
}

/** An inclusive range of addresses. */
export interface IPv4Range {
  readonly start: IPv4
  readonly end: IPv4
}

export function rangeContains(range: IPv4Range, ip: IPv4): boolean {
  return ip >= range.start && ip <= range.end
}

export function rangesOverlap(a: IPv4Range, b: IPv4Range): boolean {
  return a.start <= b.end && b.start <= a.end
}

export function formatRange(range: IPv4Range): string {
  return `${formatIPv4(range.start)}-${formatIPv4(range.end)}`
}

/** Parses "a.b.c.d-e.f.g.h" or a CIDR block into an inclusive range. */
export function parseRange(text: string): IPv4Range | { error: string } {
  if (text.includes('/')) {
    const subnet = parseCidr(text)
    if ('error' in subnet) return subnet
    return { start: subnet.network, end: broadcastOf(subnet) }
  }
  const dash = text.indexOf('-')
  if (dash < 0) return { error: 'is neither a range "first-last" nor a CIDR block' }
  const start = parseIPv4(text.slice(0, dash).trim())
  const end = parseIPv4(text.slice(dash + 1).trim())
  if (start === undefined || end === undefined) return { error: 'has an invalid address' }
  if (end < start) return { error: 'ends before it starts' }
  return { start, end }
}

/**
 * The default load-balancer pool: the last /27 of the subnet (32 addresses), less the
 * broadcast address. For subnets smaller than a /27 there is no sensible default.
 */
export function defaultLoadBalancerPool(subnet: Subnet): IPv4Range | undefined {
  if (subnet.prefix > 26) return undefined
  const last = broadcastOf(subnet)
  return { start: (last - 31) >>> 0, end: (last - 1) >>> 0 }
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** Accepts aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff (any case); returns lower-case colon form. */
export function parseMac(text: string): string | undefined {
  const normal = text.toLowerCase().replaceAll('-', ':')
  return MAC.test(normal) ? normal : undefined
}

export function macToBytes(mac: string): Uint8Array {
  const parsed = parseMac(mac)
  if (parsed === undefined) throw new TypeError(`Cannot convert MAC address: "${mac}" is not six hex pairs`)
  return Uint8Array.from(parsed.split(':').map((pair) => Number.parseInt(pair, 16)))
}

export function macFromBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')
}
