/**
 * The controller's network as the controller itself sees it: the interface of the default route (or
 * the one given), its address and subnet, the default gateway, and the DNS servers the system uses.
 *
 * Pure parsers for /proc/net/route and resolv.conf, and one function that reads them (injectable
 * file reader and interface list, for tests).
 */
import { readFile } from 'node:fs/promises'
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'
import { formatCidr, formatIPv4, type IPv4, maskOf, parseIPv4 } from '../../lib/ipv4/index.ts'

export interface Route {
  readonly iface: string
  /** 0 for the default route. */
  readonly destination: IPv4
  readonly prefix: number
  /** 0 when the destination is on the link. */
  readonly gateway: IPv4
  readonly metric: number
}

/**
 * /proc/net/route: a header line, then one route per line with Destination, Gateway and Mask as
 * 8 hex digits in host byte order (little-endian on x86 and arm64: "0100A8C0" is 192.168.0.1).
 */
export function parseRouteTable(text: string): Route[] {
  const routes: Route[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 8) continue
    const [iface, dest, gw, flags, , , metric, mask] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    // RTF_UP (0x1): only routes in use.
    if ((Number.parseInt(flags, 16) & 0x1) === 0) continue
    const m = littleEndian(mask)
    routes.push({
      iface,
      destination: littleEndian(dest),
      prefix: popcount(m),
      gateway: littleEndian(gw),
      metric: Number(metric),
    })
  }
  return routes
}

function popcount(v: number): number {
  let n = 0
  for (let x = v >>> 0; x !== 0; x >>>= 1) n += x & 1
  return n
}

function littleEndian(hex: string): IPv4 {
  const v = Number.parseInt(hex, 16) >>> 0
  return (((v & 0xff) << 24) | (((v >>> 8) & 0xff) << 16) | (((v >>> 16) & 0xff) << 8) | (v >>> 24)) >>> 0
}

/** The default route with the lowest metric, on `iface` when given. */
export function defaultRoute(routes: readonly Route[], iface?: string): Route | undefined {
  return routes
    .filter((r) => r.destination === 0 && r.prefix === 0 && (iface === undefined || r.iface === iface))
    .sort((a, b) => a.metric - b.metric)[0]
}

/** The IPv4 `nameserver` lines of a resolv.conf, in order. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    if (m?.[1] !== undefined && parseIPv4(m[1]) !== undefined && !out.includes(m[1])) out.push(m[1])
  }
  return out
}

const isLoopback = (ip: string) => ip.startsWith('127.')

/** systemd-resolved's stub address: the real servers are in its own file. */
const RESOLVED_STUB = '127.0.0.53'
export const RESOLV_CONF = '/etc/resolv.conf'
export const RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf'

export interface DetectedNetwork {
  readonly interface: string
  /** The interface's address: the controller. */
  readonly address: string
  /** Like 192.168.1.0/24. */
  readonly subnet: string
  /** The default route's gateway on this interface; undefined when there is none. */
  readonly gateway?: string
  /** DNS servers the machines can use (no loopback address); may be empty. */
  readonly dns: readonly string[]
  /** Where the DNS servers were read. */
  readonly dnsSource: string
}

export interface DetectOptions {
  /** The interface to use; default: the default route's. */
  readonly interface?: string
  readonly readText?: (path: string) => Promise<string>
  readonly interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>
}

export class DetectError extends Error {
  readonly code = 'HOMELAB_DETECT'
  override name = 'DetectError'
}

/** Reads the routes, the interface and resolv.conf; throws DetectError saying what to pass instead. */
export async function detectNetwork(options: DetectOptions = {}): Promise<DetectedNetwork> {
  const read = options.readText ?? ((path: string) => readFile(path, 'utf8'))
  const routes = parseRouteTable(await read('/proc/net/route').catch(() => ''))
  const route = defaultRoute(routes, options.interface)
  const name = options.interface ?? route?.iface
  if (name === undefined)
    throw new DetectError(
      "Cannot find the network: this controller has no default route (pass --interface IF, the interface on the machines' network)",
    )
  const all = (options.interfaces ?? networkInterfaces)()
  const info = all[name]?.find((a) => a.family === 'IPv4' && !a.internal)
  if (info === undefined) {
    const present = Object.keys(all).filter((n) => all[n]?.some((a) => a.family === 'IPv4' && !a.internal))
    throw new DetectError(
      `Cannot use interface "${name}": it has no IPv4 address (interfaces with one: ${present.join(', ') || 'none'}; pass --interface IF)`,
    )
  }
  const address = parseIPv4(info.address) as IPv4
  const prefix = Number((info.cidr ?? '/24').split('/')[1])
  const subnet = formatCidr({ network: (address & maskOf(prefix)) >>> 0, prefix })
  const gateway =
    route !== undefined && route.iface === name && route.gateway !== 0 ? formatIPv4(route.gateway) : undefined
  let dnsSource = RESOLV_CONF
  let servers = parseResolvConf(await read(RESOLV_CONF).catch(() => ''))
  if (servers.includes(RESOLVED_STUB)) {
    const upstream = parseResolvConf(await read(RESOLVED_UPSTREAM).catch(() => ''))
    if (upstream.length > 0) {
      servers = upstream
      dnsSource = `${RESOLVED_UPSTREAM} (systemd-resolved)`
    }
  }
  return {
    interface: name,
    address: info.address,
    subnet,
    ...(gateway === undefined ? {} : { gateway }),
    dns: servers.filter((s) => !isLoopback(s)),
    dnsSource,
  }
}
