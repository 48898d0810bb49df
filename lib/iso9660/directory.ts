/**
 * ISO 9660 directory records (ECMA-119 §9.1) as typed values: pure decoding of one
 * record, walking the records of a directory's bytes, and plain ISO 9660 names.
 *
 * Record layout, integers "both-endian" (little-endian copy first, then big-endian;
 * the little-endian copy is used, as Linux does):
 *   0      length of the record (LEN_DR)
 *   1      extended attribute record length, in logical blocks
 *   2..9   extent: first logical block of the data (both-endian 32)
 *   10..17 data length in bytes (both-endian 32)
 *   18..24 recording date and time
 *   25     file flags (FileFlag)
 *   26     file unit size, 27 interleave gap size (both 0 unless interleaved)
 *   28..31 volume sequence number (both-endian 16)
 *   32     length of the file identifier (LEN_FI)
 *   33..   file identifier, one padding byte when LEN_FI is even, then the
 *          system use area (Rock Ridge lives there) up to LEN_DR
 */
import { corrupt } from './errors.ts'

/** Records never cross a 2048-byte logical sector (ECMA-119 §6.8.1.1). */
export const SECTOR_SIZE = 2048

/** 33 fixed bytes plus a file identifier of at least one byte. */
export const MIN_RECORD_LENGTH = 34

/** File flags (ECMA-119 §9.1.6), one bit each. */
export const FileFlag = {
  /** "Existence": the entry need not be shown to the user. */
  Hidden: 0x01,
  Directory: 0x02,
  /** An associated file (e.g. a resource fork), not a file of its own. */
  Associated: 0x04,
  Record: 0x08,
  Protection: 0x10,
  /** Not the final record of a file split over several extents (files over 4 GiB). */
  MultiExtent: 0x80,
} as const

export interface DirectoryRecord {
  /** LEN_DR: bytes this record takes in the directory. */
  readonly length: number
  /** Logical blocks of extended attribute record before the file data. */
  readonly xattrLength: number
  /** First logical block of the extent. */
  readonly extent: number
  /** Bytes of data in this extent. */
  readonly dataLength: number
  readonly flags: number
  readonly fileUnitSize: number
  readonly interleaveGap: number
  /** The raw file identifier (d-characters, UCS-2 for Joliet, or 0x00/0x01 for "." and ".."). */
  readonly identifier: Uint8Array
  /** The system use area (SUSP / Rock Ridge entries), possibly empty. */
  readonly systemUse: Uint8Array
}

export function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] as number) +
    (bytes[offset + 1] as number) * 0x100 +
    (bytes[offset + 2] as number) * 0x10000 +
    (bytes[offset + 3] as number) * 0x1000000
  )
}

export function readUint16LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] as number) + (bytes[offset + 1] as number) * 0x100
}

/**
 * Decodes the record at `offset`. The caller has checked that a length byte is
 * there and non-zero; this checks that the whole record fits in `bytes`.
 */
export function decodeDirectoryRecord(bytes: Uint8Array, offset: number): DirectoryRecord {
  const length = bytes[offset] ?? 0
  if (length < MIN_RECORD_LENGTH) {
    throw corrupt(
      `directory record at byte ${offset} is ${length} bytes long, less than ${MIN_RECORD_LENGTH}`,
    )
  }
  if (offset + length > bytes.length) {
    throw corrupt(`directory record at byte ${offset} (${length} bytes) runs past the end of its directory`)
  }
  const identifierLength = bytes[offset + 32] as number
  if (identifierLength === 0 || 33 + identifierLength > length) {
    throw corrupt(
      `directory record at byte ${offset} has a file identifier of ${identifierLength} bytes in a ${length}-byte record`,
    )
  }
  const identifierEnd = offset + 33 + identifierLength
  // The system use area starts at an even offset: one padding byte follows an even-length identifier.
  const systemUseStart = Math.min(identifierEnd + (identifierLength % 2 === 0 ? 1 : 0), offset + length)
  return {
    length,
    xattrLength: bytes[offset + 1] as number,
    extent: readUint32LE(bytes, offset + 2),
    dataLength: readUint32LE(bytes, offset + 10),
    flags: bytes[offset + 25] as number,
    fileUnitSize: bytes[offset + 26] as number,
    interleaveGap: bytes[offset + 27] as number,
    identifier: bytes.subarray(offset + 33, identifierEnd),
    systemUse: bytes.subarray(systemUseStart, offset + length),
  }
}

/**
 * The records of a directory, in order. A zero length byte means "no more records in
 * this sector" (the rest is padding), so the walk jumps to the next sector. Every step
 * advances by at least one byte, so the walk ends within `bytes.length` steps.
 */
export function* directoryRecords(bytes: Uint8Array): Generator<DirectoryRecord> {
  let offset = 0
  while (offset < bytes.length) {
    const length = bytes[offset] as number
    if (length === 0) {
      offset = (Math.floor(offset / SECTOR_SIZE) + 1) * SECTOR_SIZE
      continue
    }
    const sectorEnd = (Math.floor(offset / SECTOR_SIZE) + 1) * SECTOR_SIZE
    if (offset + length > sectorEnd) {
      throw corrupt(`directory record at byte ${offset} (${length} bytes) crosses a sector boundary`)
    }
    const record = decodeDirectoryRecord(bytes, offset)
    yield record
    offset += length
  }
}

/** "." is identifier 0x00 and ".." is 0x01 (ECMA-119 §6.8.2.2). */
export function isSelfOrParent(record: DirectoryRecord): boolean {
  return record.identifier.length === 1 && (record.identifier[0] as number) <= 1
}

const latin1 = new TextDecoder('latin1')

/**
 * A plain ISO 9660 name: the identifier without its ";1" version and without the
 * trailing "." of a name that has no extension ("NOEXT.;1" is "NOEXT").
 */
export function isoName(identifier: Uint8Array): string {
  const base = stripVersion(latin1.decode(identifier))
  return base.endsWith('.') && base.length > 1 ? base.slice(0, -1) : base
}

/** Strips a ";<digits>" version suffix. Shared with Joliet names. */
export function stripVersion(name: string): string {
  const semicolon = name.lastIndexOf(';')
  if (semicolon !== -1 && /^[0-9]*$/.test(name.slice(semicolon + 1))) return name.slice(0, semicolon)
  return name
}
