/**
 * UEFI boot entries as `efibootmgr -v` prints them, and the choice of the entry that netboots a
 * machine. Pure: the SSH steps that run efibootmgr are in netboot-again.ts.
 *
 * The format (rhboot/efibootmgr, src/efibootmgr.c at tags 17 and 18: main() and show_vars()):
 *
 *   BootNext: 0001                      (only when set)
 *   BootCurrent: 0004
 *   Timeout: 0 seconds
 *   BootOrder: 0004,0001,0000
 *   Boot0001* UEFI PXEv4 (MAC:525400123456)<TAB>PciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(...)
 *         dp: 04 07 ...                 (efibootmgr 18 with -v: the path's bytes, ignored)
 *       data: 4e ac ...                 (efibootmgr 18 with -v: the optional data, ignored)
 *
 * An entry line is `Boot` + 4 hex digits + `*` (active) or a space + a space + the description,
 * then with -v (17) or always (18) a tab and the device path as efivar formats it
 * (rhboot/efivar src/dp-message.c: `MAC(<hex without separators>,<if type>)`, `IPv4(`, `IPv6(`,
 * `Uri(` for HTTP boot), followed by the optional data as text.
 */
import { sanitizeLine } from '../pxe/http-report.ts'

export interface BootEntry {
  /** Four upper-case hex digits, as `efibootmgr --bootnext` takes them. */
  readonly num: string
  /** LOAD_OPTION_ACTIVE: firmware skips inactive entries in BootOrder. */
  readonly active: boolean
  /** The description the firmware (or the OS that made the entry) gave it. */
  readonly label: string
  /** The device path text after the tab ('' when efibootmgr printed none). */
  readonly path: string
}

export interface BootVariables {
  readonly next?: string
  readonly current?: string
  readonly order: readonly string[]
  readonly entries: readonly BootEntry[]
}

const ENTRY = /^Boot([0-9A-Fa-f]{4})([* ]) (.*)$/
const HEX4 = /^[0-9A-Fa-f]{4}$/

/** Reads `efibootmgr` or `efibootmgr -v` output; lines it does not know are skipped. */
export function parseEfibootmgr(text: string): BootVariables {
  let next: string | undefined
  let current: string | undefined
  let order: string[] = []
  const entries: BootEntry[] = []
  for (const line of text.split(/\r?\n/)) {
    const entry = ENTRY.exec(line)
    if (entry !== null) {
      const [, num = '', star, rest = ''] = entry
      const tab = rest.indexOf('\t')
      entries.push({
        num: num.toUpperCase(),
        active: star === '*',
        // The firmware wrote these: no escape sequence reaches the operator's terminal.
        label: sanitizeLine(tab < 0 ? rest : rest.slice(0, tab)).trim(),
        path: tab < 0 ? '' : sanitizeLine(rest.slice(tab + 1)).trim(),
      })
      continue
    }
    const [key, value = ''] = line.split(/:\s*/, 2)
    const v = value.trim()
    if (key === 'BootNext' && HEX4.test(v)) next = v.toUpperCase()
    else if (key === 'BootCurrent' && HEX4.test(v)) current = v.toUpperCase()
    else if (key === 'BootOrder')
      order = v
        .split(',')
        .filter((n) => HEX4.test(n))
        .map((n) => n.toUpperCase())
  }
  return {
    ...(next === undefined ? {} : { next }),
    ...(current === undefined ? {} : { current }),
    order,
    entries,
  }
}

/** Labels real firmware gives network boot entries (OVMF: "UEFI PXEv4 (MAC:...)"). */
const NETWORK_LABEL = /\b(PXE(v4)?|IPv4|IP4|Network|NIC|LAN|Ethernet|Boot Agent)\b/i
const IPV6 = /\b(IPv6|IP6|PXEv6)\b|IPv6\(/i
/** HTTP boot (UEFI 2.5): a Uri() node in the path, or "HTTP" in the label. */
const HTTP_BOOT = /Uri\(|\bHTTP\b/i

/** The MAC as efivar prints it in MAC(...) and OVMF in its labels: 12 lower-case hex digits. */
function _macHex(mac: string): string {
  return mac.toLowerCase().replace(/[^0-9a-f]/g, '')
}

function _namesMac(entry: BootEntry, hex: string): boolean {
  const path = entry.path.toLowerCase()
  if (path.includes(`mac(${hex},`) || path.includes(`mac(${hex})`)) return true
  return entry.label.toLowerCase().replace(/[:-]/g, '').includes(hex)
}

function _isNetwork(entry: BootEntry): boolean {
  return /MAC\(|IPv4\(|IPv6\(|Uri\(/i.test(entry.path) || NETWORK_LABEL.test(entry.label)
}

/** Lower is better: IPv4 PXE first, then HTTP boot over IPv4, then IPv6 PXE, then IPv6 HTTP. */
function _rank(entry: BootEntry): number {
  const text = `${entry.label} ${entry.path}`
  return (IPV6.test(text) ? 2 : 0) + (HTTP_BOOT.test(text) ? 1 : 0) + (entry.active ? 0 : 4)
}

export type NetbootChoice =
  | { readonly kind: 'found'; readonly entry: BootEntry; readonly why: string }
  | { readonly kind: 'none'; readonly why: string }

/**
 * The entry to boot next so the machine netboots: among the entries whose device path (or label)
 * names the machine's MAC, else among those that look like network boot (a MAC/IPv4/IPv6/Uri node,
 * or a label such as "PXE", "IPv4", "Network", "NIC"), the best ranked (active, IPv4 before IPv6,
 * PXE before HTTP boot), ties in BootOrder order.
 */
export function chooseNetbootEntry(vars: BootVariables, mac: string): NetbootChoice {
  const hex = _macHex(mac)
  const position = (e: BootEntry) => {
    const at = vars.order.indexOf(e.num)
    return at < 0 ? vars.order.length : at
  }
  const best = (list: readonly BootEntry[]) =>
    [...list].sort((a, b) => _rank(a) - _rank(b) || position(a) - position(b))[0]
  const describe = (e: BootEntry) => `Boot${e.num} "${e.label}"`
  const named = best(vars.entries.filter((e) => _namesMac(e, hex)))
  if (named !== undefined) {
    return { kind: 'found', entry: named, why: `${describe(named)} names its MAC ${mac}` }
  }
  const network = vars.entries.filter(_isNetwork)
  const any = best(network)
  if (any !== undefined) {
    return {
      kind: 'found',
      entry: any,
      why: `no entry names its MAC ${mac}; ${describe(any)} is the best of ${network.length} network boot entr${network.length === 1 ? 'y' : 'ies'}`,
    }
  }
  const labels = vars.entries.map(describe).join(', ')
  return {
    kind: 'none',
    why: `no boot entry is a network boot entry (entries: ${labels === '' ? 'none' : labels}); enable network boot (PXE) in its firmware settings`,
  }
}
