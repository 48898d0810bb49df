/**
 * A read-only ISO 9660 image, read in place through one file handle with positional
 * reads only: the image is never loaded whole, and only parsed directories (a bounded
 * number) and Rock Ridge continuation sectors are cached.
 *
 * Which tree is read: Rock Ridge names on the primary tree when the root says SUSP is
 * in use (SP) and carries Rock Ridge entries; otherwise the Joliet tree when there is
 * one; otherwise the plain ISO 9660 names of the primary tree.
 *
 * Safety (the image is untrusted input):
 * - every structure is bounds-checked against the image size before it is read;
 * - directories are read whole but are capped at MAX_DIRECTORY_BYTES;
 * - Rock Ridge continuation chains are capped at MAX_CONTINUATIONS areas;
 * - walk() visits each directory extent once, so a directory that links back to an
 *   ancestor (or twice to one child) ends with IsoError HOMELAB_ISO_DIRECTORY_CYCLE;
 * - path lookup never follows symlinks and refuses "." and "..", so a lookup stays
 *   inside the image's tree; symlinks are reported as such, never served.
 */
import { type FileHandle, open as openFile } from 'node:fs/promises'
import {
  type DirectoryRecord,
  decodeDirectoryRecord,
  directoryRecords,
  FileFlag,
  isoName,
  isSelfOrParent,
  SECTOR_SIZE,
} from './directory.ts'
import { corrupt, IsoError, IsoErrorCode } from './errors.ts'
import { jolietName } from './joliet.ts'
import {
  decodeRockRidge,
  FileType,
  parseSuspArea,
  type RockRidge,
  type SuspEntry,
  suspSkip,
} from './rockridge.ts'
import { readVolumeSet } from './volume.ts'

/** A directory larger than this is refused (a real one with 10 000 long names is ~3 MiB). */
export const MAX_DIRECTORY_BYTES = 32 * 1024 * 1024
/** Rock Ridge continuation areas followed per record (real images use one or two). */
export const MAX_CONTINUATIONS = 32
/** A continuation area is at most this long (libisofs and mkisofs keep them within a block). */
export const MAX_CONTINUATION_BYTES = 64 * 1024
/** Parsed directories kept in memory. */
export const DIRECTORY_CACHE_SIZE = 256

/** Entries that only Rock Ridge writes: one of them in the root's "." record means Rock Ridge is in use. */
const ROCK_RIDGE_SIGNATURES = new Set(['RR', 'PX', 'NM', 'ER', 'TF', 'SL'])

export type IsoTree = 'rockridge' | 'joliet' | 'iso9660'

export type IsoEntryKind = 'file' | 'directory' | 'symlink' | 'other'

/** A contiguous run of file data. */
export interface IsoExtent {
  /** Byte position in the image. */
  readonly position: number
  readonly length: number
}

export interface IsoEntry {
  /** The name shown in the chosen tree (Rock Ridge, Joliet or ISO 9660). */
  readonly name: string
  readonly kind: IsoEntryKind
  /** Bytes of data: the sum over all extents of a multi-extent file. */
  readonly size: number
  /** Rock Ridge st_mode (type bits included), when the image has it. */
  readonly mode?: number
  /** Rock Ridge symlink target, for kind "symlink". */
  readonly target?: string
  /** The ISO 9660 "existence" flag: the writer asked for the entry not to be shown. */
  readonly hidden: boolean
  /** Where the data is, in order. For directories, the one extent of the directory. */
  readonly extents: readonly IsoExtent[]
  /** Why the entry cannot be read as a file, when the image uses a feature this reader lacks. */
  readonly unsupported?: string
}

interface Directory {
  readonly entries: readonly IsoEntry[]
  readonly byName: ReadonlyMap<string, IsoEntry>
  /** Upper-cased names, for the plain ISO 9660 tree (whose names lost their case). */
  readonly byUpperName?: ReadonlyMap<string, IsoEntry>
}

export interface IsoImageOptions {
  /** Force a tree instead of the best one available (tests, diagnostics). */
  readonly tree?: IsoTree
}

function splitPath(path: string): string[] {
  const parts: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..')
      throw new IsoError(IsoErrorCode.NotFound, `Cannot find "${path}" in ISO image: ".." is not followed`)
    parts.push(segment)
  }
  return parts
}

/** A name that cannot be a path segment is never listed (it could not be looked up safely). */
function usableName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0')
}

export class IsoImage {
  readonly path: string
  /** Bytes in the image file. */
  readonly size: number
  readonly tree: IsoTree
  readonly volumeId: string
  readonly blockSize: number
  private readonly handle: FileHandle
  private readonly root: IsoEntry
  /** LEN_SKP from the root's SP entry, when reading Rock Ridge. */
  private readonly skip: number
  private readonly directories = new Map<number, Promise<Directory>>()
  private readonly sectors = new Map<number, Promise<Uint8Array>>()

  private constructor(fields: {
    path: string
    handle: FileHandle
    size: number
    tree: IsoTree
    volumeId: string
    blockSize: number
    root: IsoEntry
    skip: number
  }) {
    this.path = fields.path
    this.handle = fields.handle
    this.size = fields.size
    this.tree = fields.tree
    this.volumeId = fields.volumeId
    this.blockSize = fields.blockSize
    this.root = fields.root
    this.skip = fields.skip
  }

  /** Opens the image at `path` and reads its volume descriptors and root directory. */
  static async open(path: string, options: IsoImageOptions = {}): Promise<IsoImage> {
    const handle = await openFile(path, 'r')
    try {
      const { size } = await handle.stat()
      const read = (position: number, length: number) => readAt(handle, size, position, length)
      const volumes = await readVolumeSet((sector) => read(sector * SECTOR_SIZE, SECTOR_SIZE))
      const { primary, joliet } = volumes

      // Rock Ridge: the first record of the root directory (".") starts with SP.
      let rockRidgeSkip: number | undefined
      const rootBytes = await read(primary.root.extent * primary.blockSize, SECTOR_SIZE)
      if (rootBytes.length > 0 && (rootBytes[0] as number) >= 34) {
        try {
          const self = decodeDirectoryRecord(rootBytes, 0)
          const skip = suspSkip(self.systemUse)
          if (skip !== undefined) {
            const area = parseSuspArea(self.systemUse)
            const entries = [...area.entries]
            // Writers may put the rest of the root's entries (ER, PX) in a continuation area.
            const ce = area.continuation
            if (ce !== undefined && ce.length <= MAX_CONTINUATION_BYTES) {
              entries.push(
                ...parseSuspArea(await read(ce.block * primary.blockSize + ce.offset, ce.length)).entries,
              )
            }
            if (entries.some((e) => ROCK_RIDGE_SIGNATURES.has(e.signature))) rockRidgeSkip = skip
          }
        } catch {
          // No usable "." record: not Rock Ridge; the tree itself is checked when read.
        }
      }
      let tree: IsoTree =
        rockRidgeSkip !== undefined ? 'rockridge' : joliet !== undefined ? 'joliet' : 'iso9660'
      if (options.tree !== undefined) {
        if (options.tree === 'rockridge' && rockRidgeSkip === undefined) {
          throw new IsoError(
            IsoErrorCode.Unsupported,
            `Cannot read Rock Ridge tree of "${path}": image has no Rock Ridge`,
          )
        }
        if (options.tree === 'joliet' && joliet === undefined) {
          throw new IsoError(
            IsoErrorCode.Unsupported,
            `Cannot read Joliet tree of "${path}": image has no Joliet`,
          )
        }
        tree = options.tree
      }
      const volume = tree === 'joliet' && joliet !== undefined ? joliet : primary
      const rootRecord = volume.root
      const rootPosition = rootRecord.extent * volume.blockSize
      const image = new IsoImage({
        path,
        handle,
        size,
        tree,
        volumeId: volume.volumeId,
        blockSize: volume.blockSize,
        skip: rockRidgeSkip ?? 0,
        root: {
          name: '',
          kind: 'directory',
          size: rootRecord.dataLength,
          hidden: false,
          extents: [{ position: rootPosition, length: rootRecord.dataLength }],
        },
      })
      await image.directory(image.root)
      return image
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async close(): Promise<void> {
    this.directories.clear()
    this.sectors.clear()
    await this.handle.close()
  }

  /** The entries of the directory at `path` ("" or "/" is the root), in image order. */
  async list(path: string): Promise<IsoEntry[]> {
    const entry = await this.stat(path)
    if (entry.kind !== 'directory') {
      throw new IsoError(
        IsoErrorCode.NotDirectory,
        `Cannot list "${path}" in ISO image: it is a ${entry.kind}`,
      )
    }
    return [...(await this.directory(entry)).entries]
  }

  /** The entry at `path`. Throws IsoError NotFound, NotDirectory (a parent is not a directory). */
  async stat(path: string): Promise<IsoEntry> {
    let entry = this.root
    const parts = splitPath(path)
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string
      if (entry.kind !== 'directory') {
        const parent = parts.slice(0, i).join('/')
        throw new IsoError(
          IsoErrorCode.NotDirectory,
          `Cannot find "${path}" in ISO image: "${parent}" is a ${entry.kind}, not a directory`,
        )
      }
      const directory = await this.directory(entry)
      const next = directory.byName.get(part) ?? directory.byUpperName?.get(part.toUpperCase())
      if (next === undefined) {
        throw new IsoError(IsoErrorCode.NotFound, `Cannot find "${path}" in ISO image: no entry "${part}"`)
      }
      entry = next
    }
    return entry
  }

  /** Opens the regular file at `path` for positional reads. */
  async open(path: string): Promise<IsoFile> {
    const entry = await this.stat(path)
    if (entry.kind !== 'file') {
      throw new IsoError(IsoErrorCode.NotFile, `Cannot open "${path}" in ISO image: it is a ${entry.kind}`)
    }
    if (entry.unsupported !== undefined) {
      throw new IsoError(IsoErrorCode.Unsupported, `Cannot open "${path}" in ISO image: ${entry.unsupported}`)
    }
    for (const extent of entry.extents) {
      if (extent.position + extent.length > this.size) {
        throw new IsoError(
          IsoErrorCode.Truncated,
          `Cannot open "${path}" in ISO image: its data ends at byte ${extent.position + extent.length}, past the image end (${this.size})`,
        )
      }
    }
    return new IsoFile(this.handle, entry)
  }

  /**
   * Every entry under the root, depth first, with its path. Each directory extent is
   * visited once: one reached again (a cycle, or a directory linked twice) throws
   * IsoError HOMELAB_ISO_DIRECTORY_CYCLE. Total work is bounded by the image size.
   */
  async *walk(): AsyncGenerator<{ path: string; entry: IsoEntry }> {
    const seen = new Set<number>([this.root.extents[0]?.position ?? 0])
    const stack: { path: string; entry: IsoEntry }[] = [{ path: '', entry: this.root }]
    while (stack.length > 0) {
      const { path, entry } = stack.pop() as { path: string; entry: IsoEntry }
      const children: { path: string; entry: IsoEntry }[] = []
      for (const child of (await this.directory(entry)).entries) {
        const childPath = path === '' ? child.name : `${path}/${child.name}`
        yield { path: childPath, entry: child }
        if (child.kind !== 'directory') continue
        const position = child.extents[0]?.position ?? 0
        if (seen.has(position)) {
          throw new IsoError(
            IsoErrorCode.Cycle,
            `Cannot walk ISO image: directory "${childPath}" (byte ${position}) was already reached through another path`,
          )
        }
        seen.add(position)
        children.push({ path: childPath, entry: child })
      }
      stack.push(...children.reverse())
    }
  }

  private read(position: number, length: number): Promise<Uint8Array> {
    return readAt(this.handle, this.size, position, length)
  }

  /** A parsed directory, from the cache or read and decoded. */
  private directory(entry: IsoEntry): Promise<Directory> {
    const extent = entry.extents[0]
    if (extent === undefined) return Promise.reject(corrupt(`directory "${entry.name}" has no extent`))
    const cached = this.directories.get(extent.position)
    if (cached !== undefined) {
      // Refresh its place: the Map's order is the eviction order.
      this.directories.delete(extent.position)
      this.directories.set(extent.position, cached)
      return cached
    }
    const loading = this.loadDirectory(extent)
    loading.catch(() => this.directories.delete(extent.position))
    this.directories.set(extent.position, loading)
    if (this.directories.size > DIRECTORY_CACHE_SIZE) {
      const oldest = this.directories.keys().next().value as number
      this.directories.delete(oldest)
    }
    return loading
  }

  private async loadDirectory(extent: IsoExtent): Promise<Directory> {
    if (extent.length > MAX_DIRECTORY_BYTES) {
      throw corrupt(
        `directory at byte ${extent.position} is ${extent.length} bytes, more than ${MAX_DIRECTORY_BYTES}`,
      )
    }
    if (extent.position + extent.length > this.size) {
      throw new IsoError(
        IsoErrorCode.Truncated,
        `Cannot read ISO 9660 image: directory at byte ${extent.position} (${extent.length} bytes) runs past the image end (${this.size})`,
      )
    }
    const bytes = await this.read(extent.position, extent.length)
    const entries: IsoEntry[] = []
    // A multi-extent file: its records so far, until the one without the flag.
    let pending: { record: DirectoryRecord; extents: IsoExtent[] } | undefined
    for (const record of directoryRecords(bytes)) {
      if (isSelfOrParent(record)) continue
      if (record.flags & FileFlag.Associated) continue
      const position = (record.extent + record.xattrLength) * this.blockSize
      const part: IsoExtent = { position, length: record.dataLength }
      if (pending !== undefined) {
        if (!sameBytes(pending.record.identifier, record.identifier)) {
          throw corrupt(
            `multi-extent file "${isoName(pending.record.identifier)}" is not continued by its next record`,
          )
        }
        pending.extents.push(part)
      }
      if (record.flags & FileFlag.MultiExtent) {
        pending ??= { record, extents: [part] }
        continue
      }
      const extents = pending?.extents ?? [part]
      const first = pending?.record ?? record
      pending = undefined
      const entry = await this.entry(first, extents)
      if (entry !== undefined) entries.push(entry)
    }
    if (pending !== undefined) {
      throw corrupt(`multi-extent file "${isoName(pending.record.identifier)}" has no final record`)
    }
    const byName = new Map<string, IsoEntry>()
    for (const entry of entries) if (!byName.has(entry.name)) byName.set(entry.name, entry)
    if (this.tree !== 'iso9660') return { entries, byName }
    const byUpperName = new Map<string, IsoEntry>()
    for (const entry of entries) {
      const upper = entry.name.toUpperCase()
      if (!byUpperName.has(upper)) byUpperName.set(upper, entry)
    }
    return { entries, byName, byUpperName }
  }

  /** The entry for a record (the first of a multi-extent file), or undefined when it is not shown. */
  private async entry(record: DirectoryRecord, extents: IsoExtent[]): Promise<IsoEntry | undefined> {
    const isDirectory = (record.flags & FileFlag.Directory) !== 0
    let name: string
    let rockRidge: RockRidge | undefined
    if (this.tree === 'joliet') name = jolietName(record.identifier)
    else if (this.tree === 'iso9660') name = isoName(record.identifier)
    else {
      rockRidge = decodeRockRidge(await this.suspEntries(record))
      // A relocated directory (RE) is shown where its child link (CL) record is.
      if (rockRidge.relocated) return undefined
      name = rockRidge.name ?? isoName(record.identifier)
    }
    if (!usableName(name)) return undefined
    const hidden = (record.flags & FileFlag.Hidden) !== 0
    const size = extents.reduce((sum, extent) => sum + extent.length, 0)
    const mode = rockRidge?.mode
    const base = { name, hidden, ...(mode === undefined ? {} : { mode }) }

    if (rockRidge?.childLink !== undefined) {
      return { ...base, kind: 'directory', ...(await this.relocated(rockRidge.childLink, name)) }
    }
    const type = mode === undefined ? undefined : mode & FileType.Mask
    if (rockRidge?.symlink !== undefined || type === FileType.Symlink) {
      return { ...base, kind: 'symlink', size: 0, extents: [], target: rockRidge?.symlink ?? '' }
    }
    if (isDirectory) return { ...base, kind: 'directory', size, extents }
    if (type !== undefined && type !== 0 && type !== FileType.Regular) {
      return { ...base, kind: 'other', size: 0, extents: [] }
    }
    let unsupported: string | undefined
    if (rockRidge?.compressed)
      unsupported = 'its data is zisofs-compressed (Rock Ridge ZF), which is not supported'
    else if (record.fileUnitSize !== 0 || record.interleaveGap !== 0) {
      unsupported = 'it is recorded in interleaved mode, which is not supported'
    }
    return { ...base, kind: 'file', size, extents, ...(unsupported === undefined ? {} : { unsupported }) }
  }

  /** Size and extent of a relocated directory, from the "." record at its CL block. */
  private async relocated(block: number, name: string): Promise<{ size: number; extents: IsoExtent[] }> {
    const position = block * this.blockSize
    const bytes = await this.read(position, SECTOR_SIZE)
    if (bytes.length === 0 || bytes[0] === 0) {
      throw new IsoError(
        IsoErrorCode.Truncated,
        `Cannot read ISO 9660 image: relocated directory "${name}" at block ${block} has no "." record`,
      )
    }
    const self = decodeDirectoryRecord(bytes, 0)
    return { size: self.dataLength, extents: [{ position, length: self.dataLength }] }
  }

  /** The SUSP entries of a record: its system use area (after LEN_SKP), then any CE chain. */
  private async suspEntries(record: DirectoryRecord): Promise<SuspEntry[]> {
    let area = parseSuspArea(record.systemUse.subarray(Math.min(this.skip, record.systemUse.length)))
    const entries = [...area.entries]
    for (let i = 0; area.continuation !== undefined; i++) {
      if (i >= MAX_CONTINUATIONS)
        throw corrupt(`Rock Ridge continuation chain is longer than ${MAX_CONTINUATIONS} areas`)
      const { block, offset, length } = area.continuation
      if (length > MAX_CONTINUATION_BYTES) {
        throw corrupt(
          `Rock Ridge continuation area at block ${block} is ${length} bytes, more than ${MAX_CONTINUATION_BYTES}`,
        )
      }
      area = parseSuspArea(await this.continuation(block * this.blockSize + offset, length))
      entries.push(...area.entries)
    }
    return entries
  }

  /** Continuation bytes; areas within one sector come from a small sector cache. */
  private async continuation(position: number, length: number): Promise<Uint8Array> {
    if (position + length > this.size) {
      throw new IsoError(
        IsoErrorCode.Truncated,
        `Cannot read ISO 9660 image: Rock Ridge continuation area at byte ${position} runs past the image end`,
      )
    }
    const sector = Math.floor(position / SECTOR_SIZE)
    const within = position - sector * SECTOR_SIZE
    if (within + length > SECTOR_SIZE) return this.read(position, length)
    let bytes = this.sectors.get(sector)
    if (bytes === undefined) {
      bytes = this.read(sector * SECTOR_SIZE, SECTOR_SIZE)
      this.sectors.set(sector, bytes)
      if (this.sectors.size > DIRECTORY_CACHE_SIZE)
        this.sectors.delete(this.sectors.keys().next().value as number)
    }
    return (await bytes).subarray(within, within + length)
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Reads up to `length` bytes at `position`; fewer only at the end of the image. */
async function readAt(
  handle: FileHandle,
  size: number,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const wanted = Math.max(0, Math.min(length, size - position))
  const bytes = new Uint8Array(wanted)
  let done = 0
  while (done < wanted) {
    const { bytesRead } = await handle.read(bytes, done, wanted - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return bytes.subarray(0, done)
}

/** An open file in the image: exactly the ServedFile interface of metal/pxe/files.ts. */
export class IsoFile {
  readonly size: number
  readonly name: string
  private readonly handle: FileHandle
  private readonly extents: readonly IsoExtent[]

  constructor(handle: FileHandle, entry: IsoEntry) {
    this.handle = handle
    this.name = entry.name
    this.size = entry.size
    this.extents = entry.extents
  }

  /**
   * Reads up to `length` bytes of the file at `position` into `buffer` at `offset`;
   * returns the bytes read (0 at or past the end). Reads across extents of a
   * multi-extent file. An image that ends inside the file throws IsoError Truncated
   * rather than return a short read that would look like the end of the file.
   */
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new RangeError(`Cannot read "${this.name}": position ${position} is not a non-negative integer`)
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > buffer.length) {
      throw new RangeError(
        `Cannot read "${this.name}": offset ${offset} is outside the buffer (${buffer.length} bytes)`,
      )
    }
    let remaining = Math.max(0, Math.min(length, buffer.length - offset, this.size - position))
    let total = 0
    let extentStart = 0
    for (const extent of this.extents) {
      if (remaining === 0) break
      const extentEnd = extentStart + extent.length
      if (position < extentEnd) {
        const within = position - extentStart
        const count = Math.min(remaining, extent.length - within)
        let done = 0
        while (done < count) {
          const { bytesRead } = await this.handle.read(
            buffer,
            offset + total + done,
            count - done,
            extent.position + within + done,
          )
          if (bytesRead === 0) {
            throw new IsoError(
              IsoErrorCode.Truncated,
              `Cannot read "${this.name}" from ISO image: image ends at byte ${extent.position + within + done}, inside the file`,
            )
          }
          done += bytesRead
        }
        total += count
        position += count
        remaining -= count
      }
      extentStart = extentEnd
    }
    return total
  }

  async close(): Promise<void> {}
}
