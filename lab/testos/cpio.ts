/**
 * A writer for the "newc" cpio format (SVR4 without checksums, magic 070701): the format
 * the Linux kernel unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 *   const a = new CpioArchive()
 *   a.file('init', script, 0o755)          // parent folders are added on demand (0755)
 *   a.symlink('bin/sh', 'busybox')
 *   a.charDevice('dev/console', 5, 1)
 *   const initrd = gzipSync(a.toBuffer())
 *
 * The output is deterministic: entries in insertion order, inode numbers counted from 1,
 * owner root, mtime 0. Paths are relative (no leading `/`, no `.` or `..` segments).
 */

/** File-type bits of st_mode (see inode(7)). */
export const S_IFMT = 0o170000
export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const S_IFCHR = 0o020000

/** One archive member, as written. */
export interface CpioEntry {
  readonly path: string
  /** Full st_mode: type bits and permission bits. */
  readonly mode: number
  /** File contents, or the target of a symlink. Empty for folders and devices. */
  readonly data: Uint8Array
  readonly rdevMajor: number
  readonly rdevMinor: number
}

/** The magic that starts every newc header. */
const MAGIC = '070701'
/** A newc header: the magic and 13 fields of 8 hex digits. */
const HEADER_LENGTH = 6 + 13 * 8
const TRAILER = 'TRAILER!!!'

export class CpioArchive {
  private readonly entries: CpioEntry[] = []
  private readonly byPath = new Map<string, CpioEntry>()

  /** Adds a folder (and missing parents). Adding an existing folder again is a no-op. */
  dir(path: string, permissions = 0o755): this {
    const clean = _checkPath(path)
    const existing = this.byPath.get(clean)
    if (existing !== undefined) {
      if ((existing.mode & S_IFMT) !== S_IFDIR) {
        throw new Error(`Cannot add folder "${clean}" to cpio archive: a non-folder has that path`)
      }
      return this
    }
    this.add(clean, S_IFDIR | (permissions & 0o7777), new Uint8Array(0))
    return this
  }

  /** Adds a regular file (and missing parent folders). */
  file(path: string, data: Uint8Array | string, permissions = 0o644): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    this.add(_checkPath(path), S_IFREG | (permissions & 0o7777), bytes)
    return this
  }

  /** Adds a symbolic link pointing at `target` (stored verbatim). */
  symlink(path: string, target: string): this {
    if (target === '' || target.includes('\0')) {
      throw new TypeError(
        `Cannot add symlink "${path}" to cpio archive: target "${target}" is empty or has NUL`,
      )
    }
    this.add(_checkPath(path), S_IFLNK | 0o777, new TextEncoder().encode(target))
    return this
  }

  /** Adds a character device node, like dev/console (5, 1), which the kernel needs before /init runs. */
  charDevice(path: string, major: number, minor: number, permissions = 0o600): this {
    this.add(_checkPath(path), S_IFCHR | (permissions & 0o7777), new Uint8Array(0), major, minor)
    return this
  }

  has(path: string): boolean {
    return this.byPath.has(_checkPath(path))
  }

  /** The members in archive order (parents before children). */
  list(): readonly CpioEntry[] {
    return this.entries
  }

  /** The archive bytes, ending with the TRAILER!!! entry. */
  toBuffer(): Buffer {
    const parts: Buffer[] = []
    let ino = 1
    for (const e of this.entries) parts.push(..._member(e, ino++, 1))
    parts.push(
      ..._member({ path: TRAILER, mode: 0, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 }, 0, 1),
    )
    return Buffer.concat(parts)
  }

  private add(path: string, mode: number, data: Uint8Array, rdevMajor = 0, rdevMinor = 0): void {
    if (this.byPath.has(path)) throw new Error(`Cannot add "${path}" to cpio archive: it is already there`)
    const slash = path.lastIndexOf('/')
    if (slash > 0) this.dir(path.slice(0, slash))
    const entry: CpioEntry = { path, mode, data, rdevMajor, rdevMinor }
    this.entries.push(entry)
    this.byPath.set(path, entry)
  }
}

function _checkPath(path: string): string {
  const segments = path.split('/').filter((s) => s !== '')
  if (
    typeof path !== 'string' ||
    path.startsWith('/') ||
    path.includes('\0') ||
    segments.length === 0 ||
    segments.some((s) => s === '.' || s === '..')
  ) {
    throw new TypeError(
      `Cannot use "${path}" as a cpio path: it must be relative, without "." or ".." segments`,
    )
  }
  return segments.join('/')
}

function _hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`Cannot write cpio header field: ${value} does not fit in 32 bits`)
  }
  return value.toString(16).padStart(8, '0')
}

/** Zero bytes that bring `length` to a multiple of 4 (newc aligns names and data to 4). */
function _pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4)
}

function _member(e: CpioEntry, ino: number, nlink: number): Buffer[] {
  const name = Buffer.from(`${e.path}\0`, 'utf8')
  const header =
    MAGIC +
    [
      ino,
      e.mode,
      0, // uid
      0, // gid
      nlink,
      0, // mtime: deterministic
      e.data.length,
      0, // devmajor
      0, // devminor
      e.rdevMajor,
      e.rdevMinor,
      name.length, // includes the NUL
      0, // check: unused in newc
    ]
      .map(_hex8)
      .join('')
  const head = Buffer.from(header, 'ascii')
  return [head, name, _pad(HEADER_LENGTH + name.length), Buffer.from(e.data), _pad(e.data.length)]
}
