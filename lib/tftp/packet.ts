/**
 * TFTP packets as typed values, and the pure functions between them and bytes.
 *
 *   decodeTftp(bytes)   -> TftpPacket, or throws TftpDecodeError (never anything else)
 *   encodeTftp(packet)  -> Uint8Array
 *
 * Layouts (RFC 1350 §5, RFC 2347 §2), all integers big-endian:
 *   RRQ/WRQ  | 01/02 | filename | 0 | mode | 0 | [ option | 0 | value | 0 ]*
 *   DATA     | 03 | block (2) | data (0..blksize)
 *   ACK      | 04 | block (2)
 *   ERROR    | 05 | code (2) | message | 0
 *   OACK     | 06 | [ option | 0 | value | 0 ]*
 *
 * Strings are UTF-8 (RFC 1350 says netascii; UTF-8 is a superset for the names that
 * matter and lets file names map to the FileSource's string paths). Option names are
 * case-insensitive (RFC 2347 §2) and decoded lower-case; mode is decoded lower-case.
 */
import { Opcode } from './constants.ts'

export interface RequestPacket {
  readonly opcode: typeof Opcode.RRQ | typeof Opcode.WRQ
  readonly filename: string
  /** Lower-case: "octet", "netascii", "mail" or whatever the client sent. */
  readonly mode: string
  /** Requested options, names lower-case, in the order sent (the first of duplicates wins). */
  readonly options: ReadonlyMap<string, string>
}

export interface DataPacket {
  readonly opcode: typeof Opcode.DATA
  /** 0..65535 on the wire (rolls over after 65535). */
  readonly block: number
  /** A view into the decoded bytes: copy it to keep it beyond the input's life. */
  readonly data: Uint8Array
}

export interface AckPacket {
  readonly opcode: typeof Opcode.ACK
  readonly block: number
}

export interface ErrorPacket {
  readonly opcode: typeof Opcode.ERROR
  readonly code: number
  readonly message: string
}

export interface OackPacket {
  readonly opcode: typeof Opcode.OACK
  readonly options: ReadonlyMap<string, string>
}

export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket

/** A packet that is not valid TFTP. Callers drop the packet and log `message`. */
export class TftpDecodeError extends Error {
  readonly code = 'HOMELAB_TFTP_DECODE'
  override name = 'TftpDecodeError'
  constructor(detail: string) {
    super(`Cannot parse TFTP packet: ${detail}`)
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** Reads a NUL-terminated string at `start`; returns it and the index after the NUL. */
function readString(bytes: Uint8Array, start: number, what: string): [string, number] {
  const end = bytes.indexOf(0, start)
  if (end === -1) throw new TftpDecodeError(`${what} is not NUL-terminated`)
  let text: string
  try {
    text = utf8.decode(bytes.subarray(start, end))
  } catch {
    throw new TftpDecodeError(`${what} is not valid UTF-8`)
  }
  return [text, end + 1]
}

/**
 * Reads option name/value pairs from `start` to the end (RFC 2347 §2). Trailing NUL
 * padding is tolerated: some PXE ROMs pad their requests with zeros.
 */
function readOptions(bytes: Uint8Array, start: number): Map<string, string> {
  const options = new Map<string, string>()
  let at = start
  while (at < bytes.length) {
    if (bytes.subarray(at).every((b) => b === 0)) break
    let name: string
    let value: string
    ;[name, at] = readString(bytes, at, 'option name')
    if (name === '') throw new TftpDecodeError('an option name is empty')
    if (at >= bytes.length) throw new TftpDecodeError(`option "${name}" has no value`)
    ;[value, at] = readString(bytes, at, `value of option "${name}"`)
    const key = name.toLowerCase()
    if (!options.has(key)) options.set(key, value)
  }
  return options
}

/** Decodes one UDP payload. Throws TftpDecodeError for anything malformed. */
export function decodeTftp(bytes: Uint8Array): TftpPacket {
  // Every packet starts with a 2-byte opcode.
  if (bytes.length < 2) throw new TftpDecodeError(`${bytes.length} bytes is shorter than an opcode`)
  const opcode = (bytes[0] ?? 0) * 256 + (bytes[1] ?? 0)
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const [filename, afterName] = readString(bytes, 2, 'filename')
      if (afterName >= bytes.length) throw new TftpDecodeError('request has no mode')
      const [mode, afterMode] = readString(bytes, afterName, 'mode')
      if (mode === '') throw new TftpDecodeError('mode is empty')
      return { opcode, filename, mode: mode.toLowerCase(), options: readOptions(bytes, afterMode) }
    }
    case Opcode.DATA:
    case Opcode.ACK: {
      // opcode (2) + block (2)
      if (bytes.length < 4) {
        throw new TftpDecodeError(
          `${bytes.length}-byte ${opcode === Opcode.DATA ? 'DATA' : 'ACK'} has no block number`,
        )
      }
      const block = (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)
      // Trailing bytes after an ACK's block number are ignored (seen as padding).
      return opcode === Opcode.DATA ? { opcode, block, data: bytes.subarray(4) } : { opcode, block }
    }
    case Opcode.ERROR: {
      // opcode (2) + code (2); the message may lack its NUL (tolerated: we only log it).
      if (bytes.length < 4) throw new TftpDecodeError(`${bytes.length}-byte ERROR has no error code`)
      const code = (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)
      const end = bytes.indexOf(0, 4)
      let message: string
      try {
        message = utf8.decode(bytes.subarray(4, end === -1 ? bytes.length : end))
      } catch {
        throw new TftpDecodeError('ERROR message is not valid UTF-8')
      }
      return { opcode, code, message }
    }
    case Opcode.OACK:
      return { opcode, options: readOptions(bytes, 2) }
    default:
      throw new TftpDecodeError(`unknown opcode ${opcode}`)
  }
}

function checkString(value: string, what: string): Uint8Array {
  if (value.includes('\0')) throw new RangeError(`Cannot encode TFTP packet: ${what} contains a NUL byte`)
  return utf8Encoder.encode(value)
}

function checkUint16(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`Cannot encode TFTP packet: ${what} ${value} is not an integer in 0..65535`)
  }
  return value
}

function optionParts(options: ReadonlyMap<string, string>): Uint8Array[] {
  const parts: Uint8Array[] = []
  for (const [name, value] of options) {
    if (name === '') throw new RangeError('Cannot encode TFTP packet: an option name is empty')
    parts.push(checkString(name, `option name "${name}"`), checkString(value, `value of option "${name}"`))
  }
  return parts
}

/** Joins opcode, an optional uint16 and NUL-terminated strings into one packet. */
function assemble(opcode: number, word: number | undefined, strings: readonly Uint8Array[]): Uint8Array {
  let length = word === undefined ? 2 : 4
  for (const s of strings) length += s.length + 1
  const out = new Uint8Array(length)
  out[1] = opcode
  let at = 2
  if (word !== undefined) {
    out[2] = word >> 8
    out[3] = word & 0xff
    at = 4
  }
  for (const s of strings) {
    out.set(s, at)
    at += s.length + 1 // the NUL is already there
  }
  return out
}

/**
 * Encodes a packet. Deterministic: options are written in the map's order.
 * Throws RangeError for values that cannot be on the wire (NUL inside a string,
 * a block or code outside 0..65535, an empty option name, an empty mode).
 */
export function encodeTftp(packet: TftpPacket): Uint8Array {
  switch (packet.opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      if (packet.mode === '') throw new RangeError('Cannot encode TFTP packet: mode is empty')
      return assemble(packet.opcode, undefined, [
        checkString(packet.filename, 'filename'),
        checkString(packet.mode, 'mode'),
        ...optionParts(packet.options),
      ])
    case Opcode.DATA: {
      const block = checkUint16(packet.block, 'block')
      const out = new Uint8Array(4 + packet.data.length)
      out[1] = Opcode.DATA
      out[2] = block >> 8
      out[3] = block & 0xff
      out.set(packet.data, 4)
      return out
    }
    case Opcode.ACK:
      return assemble(Opcode.ACK, checkUint16(packet.block, 'block'), [])
    case Opcode.ERROR:
      return assemble(Opcode.ERROR, checkUint16(packet.code, 'error code'), [
        checkString(packet.message, 'error message'),
      ])
    case Opcode.OACK:
      return assemble(Opcode.OACK, undefined, optionParts(packet.options))
  }
}
