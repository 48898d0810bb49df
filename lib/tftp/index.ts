/** TFTP: the wire format and option negotiation, pure (no sockets, no files). */
export {
  BLKSIZE_MAX,
  BLKSIZE_MIN,
  BLOCK_MODULO,
  DEFAULT_BLKSIZE,
  ErrorCode,
  errorCodeName,
  Mode,
  Opcode,
  opcodeName,
  TIMEOUT_MAX,
  TIMEOUT_MIN,
  WINDOWSIZE_MAX,
  WINDOWSIZE_MIN,
} from './constants.ts'
export {
  type Negotiated,
  type NegotiationLimits,
  negotiateOptions,
  OptionName,
  parseOptionInteger,
} from './options.ts'
export {
  type AckPacket,
  type DataPacket,
  decodeTftp,
  type ErrorPacket,
  encodeTftp,
  type OackPacket,
  type RequestPacket,
  TftpDecodeError,
  type TftpPacket,
} from './packet.ts'
