/** DHCPv4 codec: the public surface. Imports nothing above protocols/ except core/net/ipv4.ts. */
export { formatDhcp } from './format.ts'
export {
  BootOp,
  ClientArch,
  DhcpOption,
  type DhcpOptionCode,
  MESSAGE_TYPE_NAMES,
  MessageType,
  type MessageTypeCode,
  messageTypeName,
  OPTION_NAMES,
  optionName,
  PXE_DISCOVERY_BOOT_FILE_DIRECTLY,
  PxeSubOption,
} from './options.ts'
export {
  BOOTP_MIN_LENGTH,
  BROADCAST_FLAG,
  clientMac,
  DHCP_MIN_LENGTH,
  DhcpDecodeError,
  type DhcpDecodeErrorCode,
  DhcpOptions,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  optIp,
  optIps,
  optString,
  optUint8,
  optUint16,
  optUint32,
} from './packet.ts'
