/**
 * Reading a config file as text, with plain-language errors: a size limit (so `--config /dev/zero`
 * fails at once instead of reading until memory runs out), UTF-8 checked (invalid bytes are refused
 * with their offset, never silently replaced), and file errors (a folder, no permission) explained
 * with the fix.
 */
import { open } from 'node:fs/promises'

/** The largest config file read, in bytes: a homelab.yaml for hundreds of machines is under 100 KiB. */
export const MAX_CONFIG_BYTES = 1024 * 1024

/** Why a file cannot be used, as the message of a Diagnostic (after the file name). */
export class ReadProblem extends Error {
  override name = 'ReadProblem'
  /** 1-based line and column of the problem, or 0 when it has no place in the file. */
  readonly line: number
  readonly column: number
  constructor(message: string, line = 0, column = 0) {
    super(message)
    this.line = line
    this.column = column
  }
}

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'cannot be read: no such file (pass --config FILE, or run from the project folder)',
  EISDIR:
    'cannot be read: it is a folder, not a file (pass --config with the path of homelab.yaml inside it)',
  EACCES:
    'cannot be read: permission denied (make it readable by this user: chmod u+r FILE, or run as its owner)',
  EPERM:
    'cannot be read: the operation is not permitted (check the file permissions and any security policy)',
  ENOTDIR: 'cannot be read: a part of the path is not a folder (check the path given to --config)',
  ELOOP: 'cannot be read: too many symbolic links (check where the path points)',
}

/** The message for a failed open or read of a config file. */
export function describeFileError(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code
  return (code !== undefined ? FILE_ERRORS[code] : undefined) ?? `cannot be read: ${(cause as Error).message}`
}

/**
 * The byte offset of the first invalid UTF-8 sequence in `bytes`, or undefined when it is all valid
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
export function invalidUtf8Offset(bytes: Uint8Array): number | undefined {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i] as number
    if (b < 0x80) {
      i++
      continue
    }
    let need: number
    let min: number
    let max = 0xbf
    if (b >= 0xc2 && b <= 0xdf) need = 1
    else if (b >= 0xe0 && b <= 0xef) need = 2
    else if (b >= 0xf0 && b <= 0xf4) need = 3
    else return i
    // The second byte's bounds exclude overlong forms, surrogates and code points past U+10FFFF.
    min = 0x80
    if (b === 0xe0) min = 0xa0
    else if (b === 0xed) max = 0x9f
    else if (b === 0xf0) min = 0x90
    else if (b === 0xf4) max = 0x8f
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]
      if (c === undefined) return i
      if (k === 1 ? c < min || c > max : c < 0x80 || c > 0xbf) return i
    }
    i += need + 1
  }
  return undefined
}

/** Line and column (1-based, in characters) of byte `offset` of valid UTF-8 text before it. */
function _position(bytes: Uint8Array, offset: number): { line: number; column: number } {
  const before = new TextDecoder().decode(bytes.subarray(0, offset))
  const lines = before.split('\n')
  return { line: lines.length, column: [...(lines.at(-1) ?? '')].length + 1 }
}

/**
 * The text of a config file, at most `limit` bytes. Throws ReadProblem with a plain message (and the
 * place, for invalid UTF-8). A device or pipe is read only up to the limit.
 */
export async function readConfigText(file: string, limit = MAX_CONFIG_BYTES): Promise<string> {
  let bytes: Buffer
  try {
    const handle = await open(file, 'r')
    try {
      const stats = await handle.stat()
      if (stats.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' })
      if (stats.isFile() && stats.size > limit) {
        throw new ReadProblem(_tooLarge(limit, stats.size))
      }
      const buffer = Buffer.alloc(limit + 1)
      let length = 0
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null)
        if (bytesRead === 0) break
        length += bytesRead
      }
      if (length > limit) throw new ReadProblem(_tooLarge(limit))
      bytes = buffer.subarray(0, length)
    } finally {
      await handle.close()
    }
  } catch (cause) {
    if (cause instanceof ReadProblem) throw cause
    throw new ReadProblem(describeFileError(cause))
  }
  const bad = invalidUtf8Offset(bytes)
  if (bad !== undefined) {
    const { line, column } = _position(bytes, bad)
    throw new ReadProblem(
      `is not valid UTF-8: byte ${bad} (0x${(bytes[bad] as number).toString(16).padStart(2, '0')}) starts no valid character (save the file as UTF-8)`,
      line,
      column,
    )
  }
  // A byte order mark is valid UTF-8 but no part of the settings.
  const text = bytes.toString('utf8')
  return text.startsWith('\ufeff') ? text.slice(1) : text
}

function _tooLarge(limit: number, size?: number): string {
  const shown =
    limit >= 2 ** 20 ? `${+(limit / 2 ** 20).toFixed(1)} MiB` : `${+(limit / 1024).toFixed(1)} KiB`
  return `is larger than ${shown}${size === undefined ? '' : ` (${size} bytes)`}: a config file is small text; check that --config names homelab.yaml, not another file or a device`
}
