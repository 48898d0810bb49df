/**
 * The maker of a NIC from its MAC: the IEEE registries (MA-L, MA-M, MA-S) from the `oui-data`
 * package (docs/dependencies.md). Loaded once, on first use (5 MB of JSON).
 */
import { createRequire } from 'node:module'

let registry: Readonly<Record<string, string>> | undefined

function load(): Readonly<Record<string, string>> {
  registry ??= createRequire(import.meta.url)('oui-data') as Record<string, string>
  return registry
}

/**
 * The organisation's name (the registry entry's first line), "locally administered" for a MAC whose
 * U/L bit is set (virtual machines, randomised MACs: no registry holds them), or undefined.
 * The longest prefix wins: MA-S (9 hex digits), then MA-M (7), then MA-L (6).
 */
export function vendorOf(mac: string): string | undefined {
  const hex = mac.replaceAll(/[:-]/g, '').toUpperCase()
  if (!/^[0-9A-F]{12}$/.test(hex)) return undefined
  if ((Number.parseInt(hex.slice(0, 2), 16) & 0x02) !== 0) return 'locally administered'
  const db = load()
  const entry = db[hex.slice(0, 9)] ?? db[hex.slice(0, 7)] ?? db[hex.slice(0, 6)]
  return entry?.split('\n')[0]?.trim()
}
