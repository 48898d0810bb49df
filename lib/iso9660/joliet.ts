/**
 * Joliet names (Joliet specification §3): the file identifiers of a supplementary
 * volume descriptor's tree, in UCS-2 big-endian (decoded as UTF-16BE, so surrogate
 * pairs written by newer tools survive), with the same ";1" version suffix as ISO 9660.
 */
import { stripVersion } from './directory.ts'
import { corrupt } from './errors.ts'

const utf16be = new TextDecoder('utf-16be')

/** Decodes a Joliet file identifier; an odd byte count cannot be UCS-2. */
export function jolietName(identifier: Uint8Array): string {
  if (identifier.length % 2 !== 0) {
    throw corrupt(`Joliet file identifier has an odd length (${identifier.length} bytes)`)
  }
  return stripVersion(utf16be.decode(identifier))
}
