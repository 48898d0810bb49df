/**
 * DHCPv4 packets: pure decode and encode (RFC 2131 §2, RFC 2132, RFC 3396).
 *
 *   const packet = decodeDhcp(bytes)          // throws DhcpDecodeError, nothing else
 *   packet.options.uint16(DhcpOption.ClientSystemArchitecture)
 *   const wire = encodeDhcp({ ...packet, op: BootOp.Reply, options })
 *
 * Encoding is deterministic: option 53 first (some PXE ROMs look for it there), the
 * others in ascending order, options longer than 255 bytes split into consecutive
 * instances (RFC 3396 §7), 0xff, then zero padding up to the 300-byte BOOTP minimum.
 */
import { type IPv4, macToBytes } from '../ipv4/index.ts'
import { DhcpOption, optionName } from './options.ts'

/** Why a packet could not be decoded (or an option read); `code` is stable for callers. */
export type DhcpDecodeErrorCode =
  | 'DHCP_TOO_SHORT'
  | 'DHCP_BAD_MAGIC_COOKIE'
  | 'DHCP_OPTION_TRUNCATED'
  | 'DHCP_OPTIONS_NOT_TERMINATED'
  | 'DHCP_BAD_OVERLOAD'
  | 'DHCP_OPTION_WRONG_SIZE'

export class DhcpDecodeError extends Error {
  readonly code: DhcpDecodeErrorCode
  override name = 'DhcpDecodeError'
  constructor(code: DhcpDecodeErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/**
 * A DHCP message. Addresses are IPv4 integers (lib/ipv4/ipv4.ts). `sname` and `file`
 * are the fixed BOOTP fields read up to their first NUL, one character per byte
 * (latin1), so any bytes survive a round trip. When option 52 overloads them they hold
 * options instead: decode then leaves them '' and merges those options.
 */
export interface DhcpPacket {
  /** 1 BOOTREQUEST, 2 BOOTREPLY. */
  readonly op: number
  /** Hardware type, 1 for Ethernet. */
  readonly htype: number
  /** Hardware address length, 6 for Ethernet. */
  readonly hlen: number
  readonly hops: number
  readonly xid: number
  readonly secs: number
  /** Bit 0x8000 is the BROADCAST flag (RFC 2131 §2, figure 2). */
  readonly flags: number
  readonly ciaddr: IPv4
  readonly yiaddr: IPv4
  readonly siaddr: IPv4
  readonly giaddr: IPv4
  /** The 16-byte client hardware address field; the MAC is its first `hlen` bytes. */
  readonly chaddr: Uint8Array
  readonly sname: string
  readonly file: string
  readonly options: DhcpOptions
}

export const BROADCAST_FLAG = 0x8000

/**
 * 236 bytes of fixed BOOTP header (RFC 951 / RFC 2131 §2: op..file) plus the 4-byte
 * magic cookie 99.130.83.99 (RFC 2131 §3). A packet shorter than that is not DHCP.
 * (The smallest *useful* packet also has option 53 and 0xff: 243 bytes; that is
 * checked by the caller through `options`.)
 */
export const DHCP_MIN_LENGTH = 240
const COOKIE_OFFSET = 236
const SNAME_OFFSET = 44
const SNAME_LENGTH = 64
const FILE_OFFSET = 108
const FILE_LENGTH = 128
/** RFC 1542 §2.1: a BOOTP message is at least 300 bytes; some relays and ROMs drop shorter ones. */
export const BOOTP_MIN_LENGTH = 300
const MAGIC_COOKIE = 0x63825363

/** The option map: raw bytes by option number, plus getters that check the size. */
export class DhcpOptions {
  readonly raw: ReadonlyMap<number, Uint8Array>

  constructor(entries: Iterable<readonly [number, Uint8Array]> = []) {
    const map = new Map<number, Uint8Array>()
    for (const [code, value] of entries) {
      if (!Number.isInteger(code) || code < 1 || code > 254) {
        throw new RangeError(`Cannot set DHCP option: code ${code} is not between 1 and 254`)
      }
      map.set(code, value)
    }
    this.raw = map
  }

  has(code: number): boolean {
    return this.raw.has(code)
  }

  get(code: number): Uint8Array | undefined {
    return this.raw.get(code)
  }

  /** A copy with some options set (a value of undefined removes the option). */
  with(changes: Iterable<readonly [number, Uint8Array | undefined]>): DhcpOptions {
    const map = new Map(this.raw)
    for (const [code, value] of changes) {
      if (value === undefined) map.delete(code)
      else map.set(code, value)
    }
    return new DhcpOptions(map)
  }

  uint8(code: number): number | undefined {
    const v = this.sized(code, 1)
    return v === undefined ? undefined : (v[0] as number)
  }

  uint16(code: number): number | undefined {
    const v = this.sized(code, 2)
    return v === undefined ? undefined : ((v[0] as number) << 8) | (v[1] as number)
  }

  uint32(code: number): number | undefined {
    const v = this.sized(code, 4)
    return v === undefined ? undefined : readUint32(v, 0)
  }

  ip(code: number): IPv4 | undefined {
    return this.uint32(code)
  }

  /** A list of IPv4 addresses (one or more, so the length is a non-zero multiple of 4). */
  ips(code: number): IPv4[] | undefined {
    const v = this.raw.get(code)
    if (v === undefined) return undefined
    if (v.length === 0 || v.length % 4 !== 0) throw wrongSize(code, 'a multiple of 4 bytes', v.length)
    const out: IPv4[] = []
    for (let i = 0; i < v.length; i += 4) out.push(readUint32(v, i))
    return out
  }

  /** A list of uint16 (option 93 may carry several architectures). */
  uint16s(code: number): number[] | undefined {
    const v = this.raw.get(code)
    if (v === undefined) return undefined
    if (v.length === 0 || v.length % 2 !== 0) throw wrongSize(code, 'a multiple of 2 bytes', v.length)
    const out: number[] = []
    for (let i = 0; i < v.length; i += 2) out.push(((v[i] as number) << 8) | (v[i + 1] as number))
    return out
  }

  /** Text, one character per byte; a trailing NUL (sent by some firmware) is dropped. */
  string(code: number): string | undefined {
    const v = this.raw.get(code)
    if (v === undefined) return undefined
    let end = v.length
    while (end > 0 && v[end - 1] === 0) end--
    return latin1(v, 0, end)
  }

  private sized(code: number, size: number): Uint8Array | undefined {
    const v = this.raw.get(code)
    if (v === undefined) return undefined
    if (v.length !== size) throw wrongSize(code, `${size} byte${size === 1 ? '' : 's'}`, v.length)
    return v
  }
}

function wrongSize(code: number, expected: string, got: number): DhcpDecodeError {
  return new DhcpDecodeError(
    'DHCP_OPTION_WRONG_SIZE',
    `Cannot read DHCP option ${code} (${optionName(code)}): expected ${expected}, got ${got}`,
  )
}

function readUint32(b: Uint8Array, at: number): number {
  return (
    (b[at] as number) * 0x1000000 +
    (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
  )
}

function writeUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24
  b[at + 1] = (v >>> 16) & 255
  b[at + 2] = (v >>> 8) & 255
  b[at + 3] = v & 255
}

function latin1(b: Uint8Array, start: number, end: number): string {
  let s = ''
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i] as number)
  return s
}

/** Reads a NUL-terminated fixed field. */
function fixedString(b: Uint8Array, start: number, length: number): string {
  let end = start
  const limit = start + length
  while (end < limit && b[end] !== 0) end++
  return latin1(b, start, end)
}

// ---------------------------------------------------------------------------------------
// Option value builders (the inverse of the getters).

export function optUint8(v: number): Uint8Array {
  return Uint8Array.of(v & 255)
}

export function optUint16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 255, v & 255)
}

export function optUint32(v: number): Uint8Array {
  const b = new Uint8Array(4)
  writeUint32(b, 0, v >>> 0)
  return b
}

export function optIp(v: IPv4): Uint8Array {
  return optUint32(v)
}

export function optIps(list: readonly IPv4[]): Uint8Array {
  const b = new Uint8Array(list.length * 4)
  list.forEach((v, i) => {
    writeUint32(b, i * 4, v >>> 0)
  })
  return b
}

/** Text as one byte per character; throws RangeError for characters above U+00FF. */
export function optString(s: string): Uint8Array {
  const b = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 255) throw new RangeError(`Cannot encode DHCP text: "${s}" has a character above U+00FF`)
    b[i] = c
  }
  return b
}

// ---------------------------------------------------------------------------------------
// Decode

/**
 * Parses one option area into `into`. Returns true when it met the End option.
 * Repeated codes are concatenated in order (RFC 3396 §5: "long" options).
 */
function parseOptionArea(
  b: Uint8Array,
  start: number,
  end: number,
  into: Map<number, Uint8Array>,
  area: string,
): boolean {
  let i = start
  while (i < end) {
    const code = b[i] as number
    if (code === DhcpOption.Pad) {
      i++
      continue
    }
    if (code === DhcpOption.End) return true
    if (i + 1 >= end) {
      throw new DhcpDecodeError(
        'DHCP_OPTION_TRUNCATED',
        `Cannot parse DHCP packet: option ${code} in the ${area} has no length byte`,
      )
    }
    const length = b[i + 1] as number
    const valueStart = i + 2
    if (valueStart + length > end) {
      throw new DhcpDecodeError(
        'DHCP_OPTION_TRUNCATED',
        `Cannot parse DHCP packet: option ${code} in the ${area} declares ${length} bytes but ${end - valueStart} remain`,
      )
    }
    const value = b.slice(valueStart, valueStart + length)
    const previous = into.get(code)
    if (previous === undefined) {
      into.set(code, value)
    } else {
      const joined = new Uint8Array(previous.length + value.length)
      joined.set(previous, 0)
      joined.set(value, previous.length)
      into.set(code, joined)
    }
    i = valueStart + length
  }
  return false
}

/**
 * Decodes a DHCP message. Throws DhcpDecodeError (and nothing else) when the bytes are
 * not a well-formed DHCP message; callers drop such packets.
 */
export function decodeDhcp(input: Uint8Array): DhcpPacket {
  // A Buffer's slice() is a view, not a copy: work on a plain Uint8Array view so the
  // packet owns its bytes and has plain Uint8Array fields.
  const bytes =
    input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.length)
  if (bytes.length < DHCP_MIN_LENGTH) {
    throw new DhcpDecodeError(
      'DHCP_TOO_SHORT',
      `Cannot parse DHCP packet: it has ${bytes.length} bytes, fewer than the ${DHCP_MIN_LENGTH} of a BOOTP header and magic cookie`,
    )
  }
  const cookie = readUint32(bytes, COOKIE_OFFSET)
  if (cookie !== MAGIC_COOKIE) {
    throw new DhcpDecodeError(
      'DHCP_BAD_MAGIC_COOKIE',
      `Cannot parse DHCP packet: magic cookie is 0x${cookie.toString(16).padStart(8, '0')}, not 0x63825363`,
    )
  }
  const map = new Map<number, Uint8Array>()
  if (!parseOptionArea(bytes, DHCP_MIN_LENGTH, bytes.length, map, 'options field')) {
    throw new DhcpDecodeError(
      'DHCP_OPTIONS_NOT_TERMINATED',
      'Cannot parse DHCP packet: options section is not terminated by 0xff',
    )
  }
  let sname = fixedString(bytes, SNAME_OFFSET, SNAME_LENGTH)
  let file = fixedString(bytes, FILE_OFFSET, FILE_LENGTH)
  const overload = map.get(DhcpOption.OptionOverload)
  if (overload !== undefined) {
    const mode = overload.length === 1 ? (overload[0] as number) : 0
    if (mode < 1 || mode > 3) {
      throw new DhcpDecodeError(
        'DHCP_BAD_OVERLOAD',
        `Cannot parse DHCP packet: option 52 (Option Overload) is ${Array.from(overload).join(',')}, not 1, 2 or 3`,
      )
    }
    // RFC 2131 §4.1: the options field first, then `file`, then `sname`.
    if (mode & 1) {
      if (!parseOptionArea(bytes, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, map, 'file field')) {
        throw new DhcpDecodeError(
          'DHCP_OPTIONS_NOT_TERMINATED',
          'Cannot parse DHCP packet: overloaded file field is not terminated by 0xff',
        )
      }
      file = ''
    }
    if (mode & 2) {
      if (!parseOptionArea(bytes, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, map, 'sname field')) {
        throw new DhcpDecodeError(
          'DHCP_OPTIONS_NOT_TERMINATED',
          'Cannot parse DHCP packet: overloaded sname field is not terminated by 0xff',
        )
      }
      sname = ''
    }
    // Option 52 is framing, not content (an overloaded field may even repeat it).
    map.delete(DhcpOption.OptionOverload)
  }
  return {
    op: bytes[0] as number,
    htype: bytes[1] as number,
    hlen: bytes[2] as number,
    hops: bytes[3] as number,
    xid: readUint32(bytes, 4),
    secs: ((bytes[8] as number) << 8) | (bytes[9] as number),
    flags: ((bytes[10] as number) << 8) | (bytes[11] as number),
    ciaddr: readUint32(bytes, 12),
    yiaddr: readUint32(bytes, 16),
    siaddr: readUint32(bytes, 20),
    giaddr: readUint32(bytes, 24),
    chaddr: bytes.slice(28, 44),
    sname,
    file,
    options: new DhcpOptions(map),
  }
}

// ---------------------------------------------------------------------------------------
// Encode

function writeFixedString(b: Uint8Array, at: number, length: number, s: string, field: string): void {
  if (s.length > length) {
    throw new RangeError(`Cannot encode DHCP packet: ${field} "${s}" is longer than ${length} bytes`)
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 255)
      throw new RangeError(`Cannot encode DHCP packet: ${field} "${s}" has a character above U+00FF`)
    b[at + i] = c
  }
}

function orderedCodes(options: DhcpOptions): number[] {
  const codes = [...options.raw.keys()].sort((a, c) => a - c)
  const i = codes.indexOf(DhcpOption.MessageType)
  if (i > 0) {
    codes.splice(i, 1)
    codes.unshift(DhcpOption.MessageType)
  }
  return codes
}

/** Encodes a DHCP message; throws RangeError for values that do not fit their fields. */
export function encodeDhcp(packet: DhcpPacket): Uint8Array {
  if (packet.chaddr.length > 16) {
    throw new RangeError(`Cannot encode DHCP packet: chaddr has ${packet.chaddr.length} bytes, more than 16`)
  }
  if (packet.options.has(DhcpOption.OptionOverload)) {
    throw new RangeError(
      'Cannot encode DHCP packet: option 52 (Option Overload) is not supported on encode; leave sname and file as fields',
    )
  }
  const codes = orderedCodes(packet.options)
  let optionsLength = 1 // End
  for (const code of codes) {
    const length = (packet.options.raw.get(code) as Uint8Array).length
    // RFC 3396 §7: a value over 255 bytes is split; an empty value is one instance.
    optionsLength += length === 0 ? 2 : Math.ceil(length / 255) * 2 + length
  }
  const total = Math.max(BOOTP_MIN_LENGTH, DHCP_MIN_LENGTH + optionsLength)
  const b = new Uint8Array(total)
  b[0] = packet.op
  b[1] = packet.htype
  b[2] = packet.hlen
  b[3] = packet.hops
  writeUint32(b, 4, packet.xid >>> 0)
  b[8] = (packet.secs >>> 8) & 255
  b[9] = packet.secs & 255
  b[10] = (packet.flags >>> 8) & 255
  b[11] = packet.flags & 255
  writeUint32(b, 12, packet.ciaddr >>> 0)
  writeUint32(b, 16, packet.yiaddr >>> 0)
  writeUint32(b, 20, packet.siaddr >>> 0)
  writeUint32(b, 24, packet.giaddr >>> 0)
  b.set(packet.chaddr, 28)
  writeFixedString(b, SNAME_OFFSET, SNAME_LENGTH, packet.sname, 'sname')
  writeFixedString(b, FILE_OFFSET, FILE_LENGTH, packet.file, 'file')
  writeUint32(b, COOKIE_OFFSET, MAGIC_COOKIE)
  let at = DHCP_MIN_LENGTH
  for (const code of codes) {
    const value = packet.options.raw.get(code) as Uint8Array
    let offset = 0
    do {
      const chunk = Math.min(255, value.length - offset)
      b[at] = code
      b[at + 1] = chunk
      b.set(value.subarray(offset, offset + chunk), at + 2)
      at += 2 + chunk
      offset += chunk
    } while (offset < value.length)
  }
  b[at] = DhcpOption.End
  return b
}

/** The client's MAC ("aa:bb:..") when the hardware is Ethernet-like (hlen 6), else undefined. */
export function clientMac(packet: DhcpPacket): string | undefined {
  if (packet.hlen !== 6) return undefined
  let s = ''
  for (let i = 0; i < 6; i++) {
    if (i > 0) s += ':'
    s += HEX[packet.chaddr[i] as number]
  }
  return s
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * A client's BOOTREQUEST (DISCOVER, REQUEST, ...) for an Ethernet MAC, with the BROADCAST flag
 * set unless told otherwise (a client without an address cannot take unicast replies).
 */
export function clientRequest(init: {
  readonly mac: string
  readonly xid: number
  readonly options: Iterable<readonly [number, Uint8Array]>
  readonly ciaddr?: IPv4
  readonly broadcast?: boolean
}): DhcpPacket {
  const chaddr = new Uint8Array(16)
  chaddr.set(macToBytes(init.mac))
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: init.xid,
    secs: 0,
    flags: init.broadcast === false ? 0 : BROADCAST_FLAG,
    ciaddr: init.ciaddr ?? 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr,
    sname: '',
    file: '',
    options: new DhcpOptions(init.options),
  }
}
