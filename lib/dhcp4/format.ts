/**
 * Human-readable DHCP packets, with RFC names: for logs, debugging and golden files.
 * Deterministic: the same packet always prints the same text.
 */
import { formatIPv4 } from '../ipv4/index.ts'
import { DhcpOption, messageTypeName, optionName } from './options.ts'
import { DhcpDecodeError, type DhcpPacket } from './packet.ts'

type ValueKind = 'ip' | 'ips' | 'u8' | 'u16' | 'u16s' | 'u32' | 'text' | 'codes' | 'type'

/** How each known option's value is printed; unknown options print as hex. */
const VALUE_KINDS: Readonly<Record<number, ValueKind>> = {
  [DhcpOption.SubnetMask]: 'ip',
  [DhcpOption.Router]: 'ips',
  [DhcpOption.DomainNameServer]: 'ips',
  [DhcpOption.HostName]: 'text',
  [DhcpOption.DomainName]: 'text',
  [DhcpOption.BroadcastAddress]: 'ip',
  [DhcpOption.RequestedIpAddress]: 'ip',
  [DhcpOption.LeaseTime]: 'u32',
  [DhcpOption.MessageType]: 'type',
  [DhcpOption.ServerIdentifier]: 'ip',
  [DhcpOption.ParameterRequestList]: 'codes',
  [DhcpOption.Message]: 'text',
  [DhcpOption.MaxMessageSize]: 'u16',
  [DhcpOption.RenewalTime]: 'u32',
  [DhcpOption.RebindingTime]: 'u32',
  [DhcpOption.VendorClassIdentifier]: 'text',
  [DhcpOption.TftpServerName]: 'text',
  [DhcpOption.BootfileName]: 'text',
  [DhcpOption.ClientSystemArchitecture]: 'u16s',
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function printable(s: string): string {
  return JSON.stringify(s)
}

function formatValue(packet: DhcpPacket, code: number): string {
  const o = packet.options
  const raw = o.get(code) as Uint8Array
  try {
    switch (VALUE_KINDS[code]) {
      case 'ip':
        return formatIPv4(o.ip(code) as number)
      case 'ips':
        return (o.ips(code) as number[]).map(formatIPv4).join(', ')
      case 'u8':
        return String(o.uint8(code))
      case 'u16':
        return String(o.uint16(code))
      case 'u16s':
        return (o.uint16s(code) as number[]).join(', ')
      case 'u32':
        return String(o.uint32(code))
      case 'text':
        return printable(o.string(code) as string)
      case 'type':
        return messageTypeName(o.uint8(code) as number)
      case 'codes':
        return Array.from(raw, (c) => String(c)).join(', ')
      default:
        // User class: print as text when it is plain text (iPXE sends "iPXE").
        if (code === DhcpOption.UserClass && raw.every((b) => b >= 0x20 && b < 0x7f)) {
          return printable(o.string(code) as string)
        }
        return raw.length === 0 ? '(empty)' : `0x${hex(raw)}`
    }
  } catch (error) {
    if (error instanceof DhcpDecodeError) return `0x${hex(raw)} (${error.message})`
    throw error
  }
}

/** A multi-line description of the packet: header fields, then options in ascending order. */
export function formatDhcp(packet: DhcpPacket): string {
  const lines = [
    `op=${packet.op === 1 ? 'BOOTREQUEST' : packet.op === 2 ? 'BOOTREPLY' : packet.op} htype=${packet.htype} hlen=${packet.hlen} hops=${packet.hops}`,
    `xid=0x${packet.xid.toString(16).padStart(8, '0')} secs=${packet.secs} flags=0x${packet.flags.toString(16).padStart(4, '0')}`,
    `ciaddr=${formatIPv4(packet.ciaddr)} yiaddr=${formatIPv4(packet.yiaddr)} siaddr=${formatIPv4(packet.siaddr)} giaddr=${formatIPv4(packet.giaddr)}`,
    `chaddr=${hex(packet.chaddr.subarray(0, Math.min(16, packet.hlen)))}`,
    `sname=${printable(packet.sname)} file=${printable(packet.file)}`,
  ]
  const codes = [...packet.options.raw.keys()].sort((a, b) => a - b)
  for (const code of codes) {
    lines.push(`  ${String(code).padStart(3)} ${optionName(code)}: ${formatValue(packet, code)}`)
  }
  return lines.join('\n')
}
