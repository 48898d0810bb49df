/**
 * The installer ISO as a FileSource for the PXE server's TFTP and HTTP services:
 * files are served straight out of the image, with no extraction.
 */

import { IsoError, IsoErrorCode, type IsoImage } from '../../lib/iso9660/index.ts'
import type { FileSource, Requester, ServedFile } from './files.ts'

/**
 * Serves the regular files of an open IsoImage. Paths arrive normalised
 * (normalizePath: "images/pxeboot/vmlinuz") and are matched case-sensitively on the
 * Rock Ridge or Joliet names. Missing paths, directories, symlinks and devices give
 * undefined (symlinks are never followed); a damaged image or an unsupported file
 * (zisofs) throws IsoError, so the operator sees why. The caller closes the image.
 */
export class IsoSource implements FileSource {
  readonly image: IsoImage
  constructor(image: IsoImage) {
    this.image = image
  }

  async open(path: string, _requester?: Requester): Promise<ServedFile | undefined> {
    let kind: string
    try {
      kind = (await this.image.stat(path)).kind
    } catch (error) {
      if (
        error instanceof IsoError &&
        (error.code === IsoErrorCode.NotFound || error.code === IsoErrorCode.NotDirectory)
      ) {
        return undefined
      }
      throw error
    }
    if (kind !== 'file') return undefined
    return this.image.open(path)
  }
}
