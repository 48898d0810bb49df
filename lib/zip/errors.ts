/** Why a zip archive was refused; `code` is stable for callers. */
export class ZipError extends Error {
  readonly code: /** Not a zip, or a structure that points outside the bytes. */
    | 'HOMELAB_ZIP_FORMAT'
    /** A zip feature this reader does not implement (zip64, encryption, a method other than stored/deflate). */
    | 'HOMELAB_ZIP_UNSUPPORTED'
    /** An entry name that would land outside the extraction folder (zip-slip) or is ambiguous. */
    | 'HOMELAB_ZIP_UNSAFE_NAME'
    /** More entries, or a bigger entry, than the caller's limits allow. */
    | 'HOMELAB_ZIP_TOO_LARGE'
    /** An entry whose data does not inflate to its recorded size or CRC-32. */
    | 'HOMELAB_ZIP_CORRUPT'
  constructor(code: ZipError['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ZipError'
    this.code = code
  }
}
