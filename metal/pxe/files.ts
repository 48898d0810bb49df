/**
 * What the PXE server's TFTP and HTTP services serve: one read-only file namespace
 * shared by both. Sources are layered: generated per-machine files first (install
 * configs, GRUB configs), then folders on disk (and, later, the ISO reader).
 *
 * Safety: a request path is normalised once here. NUL bytes, backslashes, `..`
 * segments and anything that resolves (through symlinks) outside a folder's root
 * are refused, so no service can serve a file outside what it was given.
 */
import { constants, type Stats } from 'node:fs'
import { type FileHandle, lstat, open, realpath } from 'node:fs/promises'
import { join, sep } from 'node:path'

/** Who asks: used to generate per-machine files and to attribute events. */
export interface Requester {
  /** The client's IPv4 address. */
  readonly ip: string
  /** The configured machine behind that address, when known. */
  readonly machine?: string
}

/** An open file: its size, and positional reads (never the whole file in memory). */
export interface ServedFile {
  readonly size: number
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns the bytes read. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>
  close(): Promise<void>
}

export interface FileSource {
  /** Opens a normalised path (see normalizePath); undefined when this source has no such file. */
  open(path: string, requester: Requester): Promise<ServedFile | undefined>
}

export class PathError extends Error {
  readonly code = 'HOMELAB_BAD_PATH'
  override name = 'PathError'
}

/**
 * Normalises a requested path to "a/b/c" (no leading slash). Throws PathError for
 * paths that could escape: NUL, backslash, "..", empty segments are collapsed.
 * Percent-decoding is the caller's job (HTTP decodes once; TFTP paths are raw).
 */
export function normalizePath(requested: string): string {
  if (requested.includes('\0')) throw new PathError('Cannot serve path: it contains a NUL byte')
  if (requested.includes('\\')) throw new PathError('Cannot serve path: it contains a backslash')
  const parts: string[] = []
  for (const segment of requested.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') throw new PathError('Cannot serve path: it contains ".."')
    parts.push(segment)
  }
  if (parts.length === 0) throw new PathError('Cannot serve path: it names no file')
  return parts.join('/')
}

class HandleFile implements ServedFile {
  readonly size: number
  private readonly handle: FileHandle
  constructor(handle: FileHandle, stats: Stats) {
    this.handle = handle
    this.size = stats.size
  }
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, offset, length, position)
    return bytesRead
  }
  close(): Promise<void> {
    return this.handle.close()
  }
}

/**
 * Serves regular files under a folder; nothing that resolves outside it, and nothing but regular
 * files. A FIFO, socket or device in the folder is refused before it is opened: `open()` of a FIFO
 * blocks until a writer appears, and a blocked open holds one of libuv's four worker threads for
 * good, so four requests for it would stop every file operation of the process (HTTP, TFTP and
 * shutdown). The type is checked with lstat on the resolved path first, and the open itself is
 * non-blocking (O_NONBLOCK) in case the file was swapped between the check and the open; the type is
 * checked again on the open handle.
 */
export class DirectorySource implements FileSource {
  private readonly root: string
  private realRoot: string | undefined
  constructor(root: string) {
    this.root = root
  }

  async open(path: string): Promise<ServedFile | undefined> {
    this.realRoot ??= await realpath(this.root)
    let real: string
    try {
      real = await realpath(join(this.realRoot, path))
    } catch {
      return undefined
    }
    if (real !== this.realRoot && !real.startsWith(this.realRoot + sep)) return undefined
    try {
      if (!(await lstat(real)).isFile()) return undefined
    } catch {
      return undefined
    }
    let handle: FileHandle
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch {
      return undefined
    }
    const stats = await handle.stat()
    if (!stats.isFile()) {
      await handle.close()
      return undefined
    }
    return new HandleFile(handle, stats)
  }
}

class BytesFile implements ServedFile {
  readonly size: number
  private readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.size = bytes.length
  }
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const chunk = this.bytes.subarray(position, Math.min(position + length, this.size))
    buffer.set(chunk, offset)
    return chunk.length
  }
  async close(): Promise<void> {}
}

/** A generator of per-requester content (e.g. a kickstart for the machine at this address). */
export type Generator = (
  requester: Requester,
) => string | Uint8Array | undefined | Promise<string | Uint8Array | undefined>

/** Files made in memory, by exact path: fixed content or generated per requester. */
export class GeneratedSource implements FileSource {
  private readonly files = new Map<string, Generator>()

  /** Adds a file; `path` is normalised. */
  set(path: string, content: string | Uint8Array | Generator): this {
    const generator: Generator = typeof content === 'function' ? content : () => content
    this.files.set(normalizePath(path), generator)
    return this
  }

  async open(path: string, requester: Requester): Promise<ServedFile | undefined> {
    const generator = this.files.get(path)
    if (generator === undefined) return undefined
    const content = await generator(requester)
    if (content === undefined) return undefined
    return new BytesFile(typeof content === 'string' ? new TextEncoder().encode(content) : content)
  }
}

/** Tries each source in order; the first that has the path wins. */
export class LayeredSource implements FileSource {
  private readonly sources: readonly FileSource[]
  constructor(sources: readonly FileSource[]) {
    this.sources = sources
  }
  async open(path: string, requester: Requester): Promise<ServedFile | undefined> {
    for (const source of this.sources) {
      const file = await source.open(path, requester)
      if (file !== undefined) return file
    }
    return undefined
  }
}

/** Serves a source under a folder prefix: with prefix "os", "os/images/x" opens "images/x" in it. */
export class MountedSource implements FileSource {
  private readonly prefix: string
  private readonly source: FileSource
  constructor(prefix: string, source: FileSource) {
    this.prefix = `${normalizePath(prefix)}/`
    this.source = source
  }
  open(path: string, requester: Requester): Promise<ServedFile | undefined> {
    if (!path.startsWith(this.prefix)) return Promise.resolve(undefined)
    return this.source.open(path.slice(this.prefix.length), requester)
  }
}

/** Serves some paths as other paths of a source (e.g. "uefi/shimx64.efi" as the ISO's "EFI/BOOT/BOOTX64.EFI"). */
export class AliasSource implements FileSource {
  private readonly aliases: ReadonlyMap<string, string>
  private readonly source: FileSource
  constructor(aliases: Readonly<Record<string, string>>, source: FileSource) {
    this.aliases = new Map(
      Object.entries(aliases).map(([from, to]) => [normalizePath(from), normalizePath(to)]),
    )
    this.source = source
  }
  open(path: string, requester: Requester): Promise<ServedFile | undefined> {
    const target = this.aliases.get(path)
    return target === undefined ? Promise.resolve(undefined) : this.source.open(target, requester)
  }
}
