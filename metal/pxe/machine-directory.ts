/** The machines the PXE server may answer: exactly those in homelab.yaml, by MAC and by IP. */
import type { Config } from '../../core/config/schema.ts'
import { parseMac } from '../../lib/ipv4/index.ts'

/**
 * The machines the server may serve, by MAC and by address: the DHCP, TFTP and HTTP services ask it
 * who a client is. Built from homelab.yaml by directoryFromConfig().
 */
export interface MachineDirectory {
  byMac(mac: string): { readonly name: string; readonly mac: string; readonly ip: string } | undefined
  byIp(ip: string): { readonly name: string; readonly mac: string; readonly ip: string } | undefined
}

export interface DirectoryEntry {
  readonly name: string
  readonly mac: string
  readonly ip: string
}

export function directoryFromConfig(
  config: Pick<Config, 'machines'>,
): MachineDirectory & { entries: DirectoryEntry[] } {
  const entries = config.machines.map((m) => ({ name: m.name, mac: parseMac(m.mac) ?? m.mac, ip: m.ip }))
  const byMac = new Map(entries.map((e) => [e.mac, e]))
  const byIp = new Map(entries.map((e) => [e.ip, e]))
  return {
    entries,
    byMac: (mac) => byMac.get(parseMac(mac) ?? mac),
    byIp: (ip) => byIp.get(ip.startsWith('::ffff:') ? ip.slice(7) : ip),
  }
}
