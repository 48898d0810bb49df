/**
 * What a DHCP request says about the machine that sent it: its MAC, whether it is netbooting, and
 * its firmware (RFC 4578 §2.1 option 93, or the PXE vendor class "PXEClient:Arch:NNNNN"). Pure.
 */
import { clientMac, DhcpOption, type DhcpPacket, MESSAGE_TYPE_NAMES } from '../../lib/dhcp4/index.ts'
import { clientArch } from '../pxe/boot-decision.ts'

/** The firmware values of machines[].firmware, or undefined when the request does not say. */
export type Firmware = 'bios' | 'uefi' | 'uefi-http'

export interface SeenClient {
  readonly mac: string
  /** It announced a network boot: PXEClient / HTTPClient vendor class, or option 93. */
  readonly netboot: boolean
  readonly firmware?: Firmware
  /** Option 93's first value (or the vendor class's), when sent. */
  readonly arch?: number
  /** The DHCP message type's name (DHCPDISCOVER, DHCPREQUEST, ...). */
  readonly message: string
}

/** UEFI PXE arches (RFC 4578 and IANA's registry): IA32, x64, EFI BC, ARM 32 and 64. */
const UEFI_PXE = new Set([6, 7, 9, 10, 11])
/** UEFI HTTP boot arches: x64 and ARM 64, as metal/pxe/boot-decision.ts serves them. */
const UEFI_HTTP = new Set([16, 19])

/** Describes a BOOTREQUEST; undefined for replies and non-Ethernet clients. */
export function describeClient(packet: DhcpPacket): SeenClient | undefined {
  if (packet.op !== 1) return undefined
  const mac = clientMac(packet)
  if (mac === undefined) return undefined
  let vendorClass: string | undefined
  let arch: number | undefined
  try {
    vendorClass = packet.options.string(DhcpOption.VendorClassIdentifier)
    arch = packet.options.uint16s(DhcpOption.ClientSystemArchitecture)?.[0]
  } catch {
    // a malformed option 93 says nothing about the firmware
  }
  arch = clientArch({
    ...(arch === undefined ? {} : { arch }),
    ...(vendorClass === undefined ? {} : { vendorClass }),
  })
  const http = vendorClass?.startsWith('HTTPClient') === true
  const netboot = http || vendorClass?.startsWith('PXEClient') === true || arch !== undefined
  const firmware: Firmware | undefined =
    arch === 0
      ? 'bios'
      : http || (arch !== undefined && UEFI_HTTP.has(arch))
        ? 'uefi-http'
        : arch !== undefined && UEFI_PXE.has(arch)
          ? 'uefi'
          : undefined
  const type = packet.options.get(DhcpOption.MessageType)?.[0]
  return {
    mac,
    netboot,
    ...(firmware === undefined ? {} : { firmware }),
    ...(arch === undefined ? {} : { arch }),
    message: (type === undefined ? undefined : MESSAGE_TYPE_NAMES[type]) ?? 'BOOTREQUEST',
  }
}

/** BIOS, UEFI, UEFI HTTP, "arch N", or "not netbooting" for a plain DHCP client. */
export function firmwareLabel(client: Pick<SeenClient, 'netboot' | 'firmware' | 'arch'>): string {
  if (client.firmware === 'bios') return 'BIOS'
  if (client.firmware === 'uefi') return 'UEFI'
  if (client.firmware === 'uefi-http') return 'UEFI HTTP'
  if (client.arch !== undefined) return `arch ${client.arch}`
  return client.netboot ? 'PXE' : 'not netbooting'
}
