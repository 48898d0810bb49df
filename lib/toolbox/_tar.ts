/**
 * One regular file out of a tar archive in memory (POSIX ustar, as npm packs): the 512-byte
 * headers are walked, sizes bounded by the archive, pax `path` and GNU long names honoured.
 */

const BLOCK = 512

/** The bytes of the regular file named `name`, or undefined when the archive has none. */
export function tarFile(tar: Uint8Array, name: string): Uint8Array | undefined {
  let at = 0
  let longName: string | undefined
  while (at + BLOCK <= tar.length) {
    const header = tar.subarray(at, at + BLOCK)
    if (header.every((b) => b === 0)) return undefined // the end blocks
    const size = Number.parseInt(_text(header, 124, 12).trim() || '0', 8)
    if (!Number.isSafeInteger(size) || size < 0 || at + BLOCK + size > tar.length) {
      throw new Error(
        `Cannot read tar: the entry at ${at} says ${_text(header, 124, 12)} bytes, past the end of the archive`,
      )
    }
    const type = String.fromCharCode(header[156] ?? 0)
    const body = tar.subarray(at + BLOCK, at + BLOCK + size)
    const prefix = _text(header, 345, 155)
    const path = longName ?? (prefix === '' ? _text(header, 0, 100) : `${prefix}/${_text(header, 0, 100)}`)
    longName = undefined
    if (type === 'x') longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(body).toString('utf8'))?.[1]
    else if (type === 'L') longName = _text(body, 0, body.length)
    else if ((type === '0' || type === '\0') && path === name) return body
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK
  }
  return undefined
}

/** A NUL-terminated field. */
function _text(bytes: Uint8Array, start: number, length: number): string {
  const field = bytes.subarray(start, start + length)
  const end = field.indexOf(0)
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8')
}
