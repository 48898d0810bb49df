/**
 * DHCPv4 option numbers and message types, with the value type each option carries.
 *
 * Sources: RFC 2132 (base options), RFC 2131 (message types), RFC 3004 (user class),
 * RFC 4578 (PXE options 93, 94, 97), RFC 5071 (PXELINUX), iPXE (175 encapsulated).
 */

/** Option numbers. The comment after each gives the value type on the wire. */
export const DhcpOption = {
  Pad: 0, // no length byte (RFC 2132 §3.1)
  SubnetMask: 1, // IPv4 mask
  Router: 3, // IPv4 list
  DomainNameServer: 6, // IPv4 list
  HostName: 12, // string
  DomainName: 15, // string
  BroadcastAddress: 28, // IPv4
  VendorSpecific: 43, // bytes (PXE: encapsulated sub-options, see PxeSubOption)
  RequestedIpAddress: 50, // IPv4
  LeaseTime: 51, // uint32 seconds
  OptionOverload: 52, // uint8: 1 file, 2 sname, 3 both (RFC 2132 §9.3)
  MessageType: 53, // uint8, see MessageType
  ServerIdentifier: 54, // IPv4
  ParameterRequestList: 55, // uint8 list of option numbers
  Message: 56, // string
  MaxMessageSize: 57, // uint16
  RenewalTime: 58, // uint32 seconds (T1)
  RebindingTime: 59, // uint32 seconds (T2)
  VendorClassIdentifier: 60, // string ("PXEClient:Arch:00007:UNDI:003016", "HTTPClient...")
  ClientIdentifier: 61, // bytes (type byte + id)
  TftpServerName: 66, // string
  BootfileName: 67, // string
  UserClass: 77, // string ("iPXE"; RFC 3004 form is length-prefixed, many clients send plain text)
  ClientSystemArchitecture: 93, // uint16 list, first is the arch (RFC 4578 §2.1)
  ClientNetworkInterface: 94, // 3 bytes: type, major, minor (RFC 4578 §2.2)
  ClientMachineIdentifier: 97, // bytes: type 0 + 16-byte GUID (RFC 4578 §2.3)
  IpxeEncapsulated: 175, // bytes: iPXE feature sub-options
  End: 255, // no length byte (RFC 2132 §3.2)
} as const

export type DhcpOptionCode = (typeof DhcpOption)[keyof typeof DhcpOption]

/** DHCP message types, option 53 (RFC 2131 §3.1, RFC 2132 §9.6). */
export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const

export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType]

/** BOOTP op field (RFC 951). */
export const BootOp = { Request: 1, Reply: 2 } as const

/** PXE sub-options inside option 43 (PXE spec 2.1, table 2-1). */
export const PxeSubOption = {
  DiscoveryControl: 6, // uint8 bit field
} as const

/**
 * PXE_DISCOVERY_CONTROL bit 3: "if set, and a boot file name is present in the offer,
 * download the boot file" with no boot-server discovery and no menu.
 */
export const PXE_DISCOVERY_BOOT_FILE_DIRECTLY = 8

/** Client system architecture, option 93 (RFC 4578 §2.1 and the IANA registry). */
export const ClientArch = {
  BiosX86: 0,
  EfiIa32: 6,
  EfiX64: 7,
  EfiBc: 9, // "EFI BC": seen from x86-64 firmware that means x86-64
  EfiArm32: 10,
  EfiArm64: 11,
  EfiX64Http: 16,
  EfiArm64Http: 19,
} as const

/** RFC names for printing; options not listed print as "Option N". */
export const OPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'Subnet Mask',
  3: 'Router',
  6: 'Domain Name Server',
  12: 'Host Name',
  15: 'Domain Name',
  28: 'Broadcast Address',
  43: 'Vendor-Specific Information',
  50: 'Requested IP Address',
  51: 'IP Address Lease Time',
  52: 'Option Overload',
  53: 'DHCP Message Type',
  54: 'Server Identifier',
  55: 'Parameter Request List',
  56: 'Message',
  57: 'Maximum DHCP Message Size',
  58: 'Renewal (T1) Time Value',
  59: 'Rebinding (T2) Time Value',
  60: 'Vendor Class Identifier',
  61: 'Client-identifier',
  66: 'TFTP Server Name',
  67: 'Bootfile Name',
  77: 'User Class',
  93: 'Client System Architecture',
  94: 'Client Network Interface Identifier',
  97: 'Client Machine Identifier',
  175: 'iPXE Encapsulated Options',
}

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'DHCPDISCOVER',
  2: 'DHCPOFFER',
  3: 'DHCPREQUEST',
  4: 'DHCPDECLINE',
  5: 'DHCPACK',
  6: 'DHCPNAK',
  7: 'DHCPRELEASE',
  8: 'DHCPINFORM',
}

export function optionName(code: number): string {
  return OPTION_NAMES[code] ?? `Option ${code}`
}

export function messageTypeName(type: number): string {
  return MESSAGE_TYPE_NAMES[type] ?? `unknown message type ${type}`
}
