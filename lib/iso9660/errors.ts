/**
 * The one error the ISO 9660 reader throws. `code` is stable: callers branch on it,
 * and the message says what was being read and what was found.
 */

/** Stable codes, one per thing a caller may handle differently. */
export const IsoErrorCode = {
  /** The image has no usable volume descriptor set (not ISO 9660, or damaged). */
  NotIso: 'HOMELAB_ISO_NOT_ISO',
  /** A structure inside the image is inconsistent (lengths, extents, names). */
  Corrupt: 'HOMELAB_ISO_CORRUPT',
  /** The image ends before a structure or file that it describes. */
  Truncated: 'HOMELAB_ISO_TRUNCATED',
  /** Directories refer back to one of their ancestors. */
  Cycle: 'HOMELAB_ISO_DIRECTORY_CYCLE',
  /** A valid feature the reader does not implement (zisofs, interleaved files). */
  Unsupported: 'HOMELAB_ISO_UNSUPPORTED',
  /** No entry at the path. */
  NotFound: 'HOMELAB_ISO_NOT_FOUND',
  /** A path component that must be a directory is not one. */
  NotDirectory: 'HOMELAB_ISO_NOT_A_DIRECTORY',
  /** The path names a directory, symlink or device where a regular file is needed. */
  NotFile: 'HOMELAB_ISO_NOT_A_FILE',
} as const

export type IsoErrorCode = (typeof IsoErrorCode)[keyof typeof IsoErrorCode]

export class IsoError extends Error {
  readonly code: IsoErrorCode
  override name = 'IsoError'
  constructor(code: IsoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Shorthand for the most common case: a structure that does not add up. */
export function corrupt(detail: string): IsoError {
  return new IsoError(IsoErrorCode.Corrupt, `Cannot read ISO 9660 image: ${detail}`)
}
