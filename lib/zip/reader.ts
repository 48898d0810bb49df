/**
 * A read-only zip reader over bytes in memory: the central directory, stored and deflated entries.
 *
 * Layout (PKWARE APPNOTE.TXT 6.3.x §4.3): local file headers and data, then the central directory,
 * then the end of central directory record (EOCD). The central directory is the source of truth
 * (names, sizes, offsets); each entry's local header is read only to find where its data starts.
 * Every offset is checked against the bytes before it is read; sizes are bounded by the caller's
 * limits; names that would escape an extraction folder are refused when the archive is opened.
 */
import { crc32, inflateRawSync } from 'node:zlib'
import { ZipError } from './errors.ts'

/** End of central directory: signature, then 18 bytes of fields, then a comment of up to 65535 bytes (§4.3.16). */
const EOCD_SIGNATURE = 0x06054b50
const EOCD_SIZE = 22
const MAX_COMMENT = 0xffff
/** Central directory file header: 46 fixed bytes, then name, extra field and comment (§4.3.12). */
const CENTRAL_SIGNATURE = 0x02014b50
const CENTRAL_SIZE = 46
/** Local file header: 30 fixed bytes, then name and extra field, then the data (§4.3.7). */
const LOCAL_SIGNATURE = 0x04034b50
const LOCAL_SIZE = 30
/** General purpose flags (§4.4.4): bit 0 encrypted, bit 11 names in UTF-8. */
const FLAG_ENCRYPTED = 1 << 0
const FLAG_UTF8 = 1 << 11
/** Compression methods (§4.4.5). */
const METHOD = { stored: 0, deflate: 8 } as const
/** "Version made by" high byte 3: UNIX, whose external attributes carry st_mode in the high 16 bits (§4.4.2). */
const MADE_BY_UNIX = 3
const S_IFMT = 0o170000
const S_IFLNK = 0o120000

export interface ZipLimits {
  /** At most this many entries. @default 65535 */
  readonly maxEntries?: number
  /** At most this many bytes in one entry, inflated. @default 512 MiB */
  readonly maxEntrySize?: number
}

export const DEFAULT_ZIP_LIMITS: Required<ZipLimits> = { maxEntries: 0xffff, maxEntrySize: 512 << 20 }

export interface ZipEntry {
  /** The entry's path inside the archive, without a trailing slash for folders. */
  readonly name: string
  readonly kind: 'file' | 'directory' | 'symlink'
  /** 0 stored, 8 deflate. */
  readonly method: 0 | 8
  readonly size: number
  readonly compressedSize: number
  readonly crc32: number
  /** The UNIX permission bits (e.g. 0o755) when the archive was made on UNIX. */
  readonly mode: number | undefined
  /** Where the local header starts. */
  readonly localOffset: number
}

export interface ZipArchive {
  readonly entries: readonly ZipEntry[]
  /** The entry named so (no trailing slash), if any. */
  get(name: string): ZipEntry | undefined
  /** The entry's bytes, inflated and checked against its size and CRC-32. */
  read(entry: ZipEntry): Uint8Array
}

/** Opens a zip held in memory: reads and checks its central directory; entry data is read on demand. */
export function openZip(bytes: Uint8Array, limits: ZipLimits = {}): ZipArchive {
  const bounds = { ...DEFAULT_ZIP_LIMITS, ...limits }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const eocd = _findEocd(view)
  const entries = _readCentral(bytes, view, eocd, bounds)
  const byName = new Map(entries.map((e) => [e.name, e]))
  return {
    entries,
    get: (name) => byName.get(name),
    read: (entry) => _readData(bytes, view, entry, bounds),
  }
}

interface Eocd {
  readonly count: number
  readonly size: number
  readonly offset: number
}

/** Finds the EOCD by scanning back over at most a maximal comment; refuses zip64 and multi-disk archives. */
function _findEocd(view: DataView): Eocd {
  if (view.byteLength < EOCD_SIZE) {
    throw new ZipError(
      'HOMELAB_ZIP_FORMAT',
      `Cannot read zip: it is ${view.byteLength} bytes, shorter than an end of central directory record (22)`,
    )
  }
  const lowest = Math.max(0, view.byteLength - EOCD_SIZE - MAX_COMMENT)
  for (let at = view.byteLength - EOCD_SIZE; at >= lowest; at--) {
    if (view.getUint32(at, true) !== EOCD_SIGNATURE) continue
    const commentLength = view.getUint16(at + 20, true)
    if (at + EOCD_SIZE + commentLength !== view.byteLength) continue // a signature inside the comment
    const disk = view.getUint16(at + 4, true)
    const cdDisk = view.getUint16(at + 6, true)
    const onDisk = view.getUint16(at + 8, true)
    const count = view.getUint16(at + 10, true)
    const size = view.getUint32(at + 12, true)
    const offset = view.getUint32(at + 16, true)
    if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
      throw new ZipError(
        'HOMELAB_ZIP_UNSUPPORTED',
        'Cannot read zip: it is a zip64 archive, which this reader does not read',
      )
    }
    if (disk !== 0 || cdDisk !== 0 || onDisk !== count) {
      throw new ZipError('HOMELAB_ZIP_UNSUPPORTED', 'Cannot read zip: it spans several disks')
    }
    if (offset + size > at) {
      throw new ZipError(
        'HOMELAB_ZIP_FORMAT',
        `Cannot read zip: its central directory (${size} bytes at ${offset}) runs past the end record at ${at}`,
      )
    }
    return { count, size, offset }
  }
  throw new ZipError(
    'HOMELAB_ZIP_FORMAT',
    'Cannot read zip: no end of central directory record (not a zip file?)',
  )
}

function _readCentral(
  bytes: Uint8Array,
  view: DataView,
  eocd: Eocd,
  limits: Required<ZipLimits>,
): ZipEntry[] {
  if (eocd.count > limits.maxEntries) {
    throw new ZipError(
      'HOMELAB_ZIP_TOO_LARGE',
      `Cannot read zip: it has ${eocd.count} entries, more than the limit of ${limits.maxEntries}`,
    )
  }
  const entries: ZipEntry[] = []
  const seen = new Set<string>()
  const end = eocd.offset + eocd.size
  let at = eocd.offset
  for (let i = 0; i < eocd.count; i++) {
    if (at + CENTRAL_SIZE > end || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new ZipError(
        'HOMELAB_ZIP_FORMAT',
        `Cannot read zip: central directory entry ${i} at ${at} is missing`,
      )
    }
    const nameLength = view.getUint16(at + 28, true)
    const next =
      at + CENTRAL_SIZE + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true)
    if (next > end) {
      throw new ZipError(
        'HOMELAB_ZIP_FORMAT',
        `Cannot read zip: central directory entry ${i} runs past the directory`,
      )
    }
    const entry = _centralEntry(bytes, view, at, nameLength, limits)
    if (seen.has(entry.name)) {
      throw new ZipError('HOMELAB_ZIP_UNSAFE_NAME', `Cannot read zip: the name "${entry.name}" appears twice`)
    }
    seen.add(entry.name)
    entries.push(entry)
    at = next
  }
  return entries
}

/** One central directory record at `at`, checked: supported method, no encryption, safe name, bounded size. */
function _centralEntry(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  nameLength: number,
  limits: Required<ZipLimits>,
): ZipEntry {
  const flags = view.getUint16(at + 8, true)
  const method = view.getUint16(at + 10, true)
  const rawName = bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength)
  const name = _decodeName(rawName, (flags & FLAG_UTF8) !== 0)
  const shown = JSON.stringify(name)
  if ((flags & FLAG_ENCRYPTED) !== 0) {
    throw new ZipError('HOMELAB_ZIP_UNSUPPORTED', `Cannot read zip entry ${shown}: it is encrypted`)
  }
  if (method !== METHOD.stored && method !== METHOD.deflate) {
    throw new ZipError(
      'HOMELAB_ZIP_UNSUPPORTED',
      `Cannot read zip entry ${shown}: compression method ${method} (only 0 stored and 8 deflate are read)`,
    )
  }
  const compressedSize = view.getUint32(at + 20, true)
  const size = view.getUint32(at + 24, true)
  if (size > limits.maxEntrySize || compressedSize > limits.maxEntrySize) {
    throw new ZipError(
      'HOMELAB_ZIP_TOO_LARGE',
      `Cannot read zip entry ${shown}: ${Math.max(size, compressedSize)} bytes, more than the limit of ${limits.maxEntrySize}`,
    )
  }
  const madeBy = view.getUint16(at + 4, true) >> 8
  const external = view.getUint32(at + 38, true)
  const unixMode = madeBy === MADE_BY_UNIX ? external >>> 16 : 0
  const isDirectory = name.endsWith('/')
  const kind = isDirectory ? 'directory' : (unixMode & S_IFMT) === S_IFLNK ? 'symlink' : 'file'
  return {
    name: safeEntryName(isDirectory ? name.slice(0, -1) : name),
    kind,
    method: method as 0 | 8,
    size,
    compressedSize,
    crc32: view.getUint32(at + 16, true),
    mode: madeBy === MADE_BY_UNIX ? unixMode & 0o7777 : undefined,
    localOffset: view.getUint32(at + 42, true),
  }
}

/** Names are UTF-8 when flagged, else IBM 437; for the ASCII both share, latin1 reads the same bytes. */
function _decodeName(raw: Uint8Array, utf8: boolean): string {
  if (utf8) return new TextDecoder('utf-8', { fatal: false }).decode(raw)
  return Buffer.from(raw).toString('latin1')
}

/**
 * Returns the name when it stays inside an extraction folder; throws otherwise (zip-slip):
 * no absolute path, drive letter or backslash, no empty, "." or ".." segment, no NUL.
 */
export function safeEntryName(name: string): string {
  const shown = JSON.stringify(name)
  const refuse = (why: string) =>
    new ZipError(
      'HOMELAB_ZIP_UNSAFE_NAME',
      `Cannot read zip entry ${shown}: ${why} (refused: it could write outside the folder it is extracted to)`,
    )
  if (name === '') throw refuse('the name is empty')
  if (name.includes('\0')) throw refuse('the name holds a NUL byte')
  if (name.includes('\\')) throw refuse('the name holds a backslash')
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw refuse('the name is an absolute path')
  for (const segment of name.split('/')) {
    if (segment === '..' || segment === '.' || segment === '')
      throw refuse(`the path has a "${segment}" segment`)
  }
  return name
}

/** Reads the entry's data after its local header, inflating when deflated, and checks size and CRC-32. */
function _readData(
  bytes: Uint8Array,
  view: DataView,
  entry: ZipEntry,
  limits: Required<ZipLimits>,
): Uint8Array {
  const shown = JSON.stringify(entry.name)
  const at = entry.localOffset
  if (at + LOCAL_SIZE > view.byteLength || view.getUint32(at, true) !== LOCAL_SIGNATURE) {
    throw new ZipError('HOMELAB_ZIP_FORMAT', `Cannot read zip entry ${shown}: no local header at ${at}`)
  }
  const start = at + LOCAL_SIZE + view.getUint16(at + 26, true) + view.getUint16(at + 28, true)
  const end = start + entry.compressedSize
  if (end > view.byteLength) {
    throw new ZipError(
      'HOMELAB_ZIP_FORMAT',
      `Cannot read zip entry ${shown}: its data runs past the end of the archive`,
    )
  }
  const stored = bytes.subarray(start, end)
  let data: Uint8Array
  if (entry.method === METHOD.stored) {
    data = stored
  } else {
    try {
      // One byte more than recorded, so an entry that inflates bigger than it says is caught below.
      data = inflateRawSync(stored, { maxOutputLength: Math.min(entry.size + 1, limits.maxEntrySize + 1) })
    } catch (cause) {
      throw new ZipError(
        'HOMELAB_ZIP_CORRUPT',
        `Cannot read zip entry ${shown}: its deflate data is broken or bigger than ${entry.size} bytes (${(cause as Error).message})`,
        { cause },
      )
    }
  }
  if (data.length !== entry.size) {
    throw new ZipError(
      'HOMELAB_ZIP_CORRUPT',
      `Cannot read zip entry ${shown}: ${data.length} bytes, but its header says ${entry.size}`,
    )
  }
  const sum = crc32(data) >>> 0
  if (sum !== entry.crc32) {
    throw new ZipError(
      'HOMELAB_ZIP_CORRUPT',
      `Cannot read zip entry ${shown}: its CRC-32 is ${sum.toString(16).padStart(8, '0')}, but its header says ${entry.crc32.toString(16).padStart(8, '0')}`,
    )
  }
  return data
}
