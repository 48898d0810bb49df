/**
 * TFTP wire constants: opcodes (RFC 1350 §5, RFC 2347 §2), error codes (RFC 1350
 * appendix, RFC 2347 §2) and the option ranges of RFC 2348, RFC 2349 and RFC 7440.
 */

/** Opcodes: the first two bytes of every packet (big-endian uint16). */
export const Opcode = {
  RRQ: 1, // read request: filename, mode, options
  WRQ: 2, // write request: filename, mode, options
  DATA: 3, // uint16 block, 0..blksize bytes
  ACK: 4, // uint16 block
  ERROR: 5, // uint16 code, message
  OACK: 6, // option acknowledgment (RFC 2347): name/value pairs
} as const
export type Opcode = (typeof Opcode)[keyof typeof Opcode]

/** Error codes carried in ERROR packets (uint16). */
export const ErrorCode = {
  NotDefined: 0, // see the message
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTransferId: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8, // RFC 2347: the transfer is ended by option negotiation
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

const opcodeNames: Record<number, string> = {
  1: 'RRQ',
  2: 'WRQ',
  3: 'DATA',
  4: 'ACK',
  5: 'ERROR',
  6: 'OACK',
}

const errorNames: Record<number, string> = {
  0: 'Not defined',
  1: 'File not found',
  2: 'Access violation',
  3: 'Disk full or allocation exceeded',
  4: 'Illegal TFTP operation',
  5: 'Unknown transfer ID',
  6: 'File already exists',
  7: 'No such user',
  8: 'Option refused',
}

/** The RFC name of an opcode ("RRQ"), or "opcode N" when unknown. */
export function opcodeName(opcode: number): string {
  return opcodeNames[opcode] ?? `opcode ${opcode}`
}

/** The RFC 1350 text of an error code ("File not found"), or "error N" when unknown. */
export function errorCodeName(code: number): string {
  return errorNames[code] ?? `error ${code}`
}

/** Transfer modes of RFC 1350 §5 (case-insensitive on the wire; decoded lower-case). */
export const Mode = {
  Netascii: 'netascii',
  Octet: 'octet',
  Mail: 'mail', // obsolete
} as const

/** The block size without options (RFC 1350 §2). */
export const DEFAULT_BLKSIZE = 512
/** RFC 2348: "Valid values range between 8 and 65464 octets, inclusive." */
export const BLKSIZE_MIN = 8
export const BLKSIZE_MAX = 65464
/** RFC 2349 §2: timeout in seconds, 1..255. */
export const TIMEOUT_MIN = 1
export const TIMEOUT_MAX = 255
/** RFC 7440 §3: windowsize 1..65535 blocks. */
export const WINDOWSIZE_MIN = 1
export const WINDOWSIZE_MAX = 65535
/** Block numbers are uint16; after 65535 the next block is 0 (the common rollover). */
export const BLOCK_MODULO = 0x10000
