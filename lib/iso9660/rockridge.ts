/**
 * System Use Sharing Protocol (SUSP, IEEE P1281) entries and the Rock Ridge
 * Interchange Protocol (RRIP, IEEE P1282) fields this reader uses. Pure functions:
 * the reader fetches continuation areas (CE) and calls back in.
 *
 * A system use area is a run of entries, each:
 *   0..1 signature ("NM", "SL", ...)   2 length (LEN_SUE, >= 4)   3 version   4.. data
 * The area ends at its end, at an "ST" entry, or at a zero byte (padding).
 *
 * Entries used:
 *   SP  (SUSP §5.3) in the root's "." record: check bytes BE EF, then LEN_SKP: bytes
 *       to skip at the start of every other system use area
 *   CE  (SUSP §5.1) continuation area: block, offset, length (both-endian 32 each)
 *   NM  (RRIP §4.1.4) alternate name; flags CONTINUE 1, CURRENT 2, PARENT 4
 *   SL  (RRIP §4.1.3) symbolic link: flags CONTINUE 1, then component records
 *       (flags CONTINUE 1, CURRENT 2, PARENT 4, ROOT 8; length; content)
 *   PX  (RRIP §4.1.1) POSIX mode (both-endian 32), links, uid, gid
 *   CL / PL / RE (RRIP §4.1.5) directory relocation: child link, parent link, relocated
 *   ZF  (zisofs, not part of RRIP) marks transparently compressed file data
 */
import { readUint32LE } from './directory.ts'

export interface SuspEntry {
  /** Two ASCII characters, e.g. "NM". */
  readonly signature: string
  readonly version: number
  /** The bytes after the 4-byte header. */
  readonly data: Uint8Array
}

/** Where more system use entries are (a CE entry). */
export interface Continuation {
  readonly block: number
  readonly offset: number
  readonly length: number
}

export interface SuspArea {
  readonly entries: readonly SuspEntry[]
  readonly continuation?: Continuation
}

/** Each entry has a 4-byte header: signature (2), length (1), version (1). */
const ENTRY_HEADER = 4

/**
 * Parses one system use area. Malformed tails (an entry shorter than its header or
 * longer than the area) end the area rather than fail, as Linux does: the directory
 * record itself is still valid and the plain ISO 9660 name remains.
 */
export function parseSuspArea(bytes: Uint8Array): SuspArea {
  const entries: SuspEntry[] = []
  let continuation: Continuation | undefined
  let offset = 0
  while (offset + ENTRY_HEADER <= bytes.length) {
    if (bytes[offset] === 0) break
    const length = bytes[offset + 2] as number
    if (length < ENTRY_HEADER || offset + length > bytes.length) break
    const signature = String.fromCharCode(bytes[offset] as number, bytes[offset + 1] as number)
    const data = bytes.subarray(offset + ENTRY_HEADER, offset + length)
    offset += length
    if (signature === 'ST') break
    // CE data: block (8, both-endian), offset (8), length (8).
    if (signature === 'CE' && data.length >= 24) {
      continuation = {
        block: readUint32LE(data, 0),
        offset: readUint32LE(data, 8),
        length: readUint32LE(data, 16),
      }
      continue
    }
    entries.push({ signature, version: bytes[offset - length + 3] as number, data })
  }
  return continuation === undefined ? { entries } : { entries, continuation }
}

/**
 * The bytes to skip at the start of each system use area (LEN_SKP), when the root's
 * "." record starts with an SP entry, which says SUSP is in use; undefined otherwise.
 */
export function suspSkip(rootSelfSystemUse: Uint8Array): number | undefined {
  // SP: "SP", length 7, version 1, check bytes BE EF, LEN_SKP.
  if (rootSelfSystemUse.length < 7) return undefined
  const [s, p, length, , check1, check2, skip] = rootSelfSystemUse
  if (s !== 0x53 || p !== 0x50 || length !== 7 || check1 !== 0xbe || check2 !== 0xef) return undefined
  return skip as number
}

export const NameFlag = { Continue: 1, Current: 2, Parent: 4 } as const
export const SymlinkComponentFlag = { Continue: 1, Current: 2, Parent: 4, Root: 8 } as const

/** POSIX file type bits of a PX mode. */
export const FileType = {
  Mask: 0o170000,
  Directory: 0o040000,
  Regular: 0o100000,
  Symlink: 0o120000,
} as const

export interface RockRidge {
  /** The NM name; "." and ".." for CURRENT and PARENT. */
  readonly name?: string
  /** PX st_mode, type bits included. */
  readonly mode?: number
  /** The SL target, as a path ("/" joined; absolute when it starts with the ROOT component). */
  readonly symlink?: string
  /** CL: this record stands for a directory relocated to this block. */
  readonly childLink?: number
  /** RE: this directory is relocated; it is shown only where its CL record is. */
  readonly relocated: boolean
  /** ZF: the file data is zisofs-compressed. */
  readonly compressed: boolean
}

const utf8 = new TextDecoder('utf-8')

/** Collects the Rock Ridge fields from the entries of one record (its area and continuations). */
export function decodeRockRidge(entries: readonly SuspEntry[]): RockRidge {
  const nameParts: Uint8Array[] = []
  let special: string | undefined
  let mode: number | undefined
  let childLink: number | undefined
  let relocated = false
  let compressed = false
  let symlink: string | undefined
  // Symlink assembly: components joined with "/", except across a component CONTINUE.
  let linkText = ''
  let linkJoin = false // whether the next component starts a new path segment
  let sawLink = false
  for (const { signature, data } of entries) {
    switch (signature) {
      case 'NM': {
        if (data.length < 1) break
        const flags = data[0] as number
        if (flags & NameFlag.Current) special = '.'
        else if (flags & NameFlag.Parent) special = '..'
        else nameParts.push(data.subarray(1))
        break
      }
      case 'PX':
        // mode at 0..7 (both-endian); RRIP 1.10 has 32 data bytes, 1.12 adds a serial number.
        if (data.length >= 8) mode = readUint32LE(data, 0)
        break
      case 'CL':
        if (data.length >= 8) childLink = readUint32LE(data, 0)
        break
      case 'RE':
        relocated = true
        break
      case 'ZF':
        compressed = true
        break
      case 'SL': {
        if (data.length < 1) break
        sawLink = true
        let i = 1
        while (i + 2 <= data.length) {
          const flags = data[i] as number
          const length = data[i + 1] as number
          if (i + 2 + length > data.length) break
          let text: string
          if (flags & SymlinkComponentFlag.Root) text = ''
          else if (flags & SymlinkComponentFlag.Current) text = '.'
          else if (flags & SymlinkComponentFlag.Parent) text = '..'
          else text = utf8.decode(data.subarray(i + 2, i + 2 + length))
          if (flags & SymlinkComponentFlag.Root) {
            linkText = '/'
            linkJoin = false
          } else {
            if (linkJoin && !linkText.endsWith('/')) linkText += '/'
            linkText += text
            linkJoin = (flags & SymlinkComponentFlag.Continue) === 0
          }
          i += 2 + length
        }
        break
      }
    }
  }
  if (sawLink) symlink = linkText
  let name = special
  if (name === undefined && nameParts.length > 0) {
    let total = 0
    for (const part of nameParts) total += part.length
    const joined = new Uint8Array(total)
    let at = 0
    for (const part of nameParts) {
      joined.set(part, at)
      at += part.length
    }
    name = utf8.decode(joined)
  }
  return {
    ...(name === undefined ? {} : { name }),
    ...(mode === undefined ? {} : { mode }),
    ...(symlink === undefined ? {} : { symlink }),
    ...(childLink === undefined ? {} : { childLink }),
    relocated,
    compressed,
  }
}
