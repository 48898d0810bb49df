/**
 * ISO 9660 volume descriptors (ECMA-119 §8): pure decoding of one 2048-byte
 * descriptor, and the rule for choosing which directory tree to read.
 *
 * The descriptor set starts at logical sector 16 (the first 32 KiB are the system
 * area, left to boot code) and ends with a terminator (type 255). Layout of the
 * primary (type 1) and supplementary (type 2) descriptors, integers both-endian:
 *   0       type            1..5  "CD001"         6  version (1)
 *   7       volume flags (supplementary only)
 *   40..71  volume identifier
 *   80..87  volume space size, in logical blocks
 *   88..119 escape sequences (supplementary: Joliet is "%/@", "%/C" or "%/E")
 *   128..131 logical block size (both-endian 16)
 *   156..189 the root directory record (34 bytes)
 */
import {
  type DirectoryRecord,
  decodeDirectoryRecord,
  readUint16LE,
  readUint32LE,
  SECTOR_SIZE,
} from './directory.ts'
import { IsoError, IsoErrorCode } from './errors.ts'

/** Where the volume descriptor set starts (ECMA-119 §6.2.1). */
export const FIRST_DESCRIPTOR_SECTOR = 16

export const DescriptorType = {
  BootRecord: 0,
  Primary: 1,
  Supplementary: 2,
  Partition: 3,
  Terminator: 255,
} as const

export interface PrimaryVolume {
  readonly type: 'primary'
  readonly volumeId: string
  /** Logical blocks in the volume. */
  readonly volumeSpaceSize: number
  /** 512, 1024 or 2048: the unit of every extent number. */
  readonly blockSize: number
  readonly root: DirectoryRecord
}

export interface SupplementaryVolume extends Omit<PrimaryVolume, 'type'> {
  readonly type: 'supplementary'
  /** Joliet level 1..3, or 0 for a supplementary descriptor that is not Joliet. */
  readonly joliet: 0 | 1 | 2 | 3
}

export type VolumeDescriptor =
  | PrimaryVolume
  | SupplementaryVolume
  | { readonly type: 'terminator' }
  | { readonly type: 'other'; readonly code: number }

const MAGIC = [0x43, 0x44, 0x30, 0x30, 0x31] // "CD001"

function fail(sector: number, detail: string): IsoError {
  return new IsoError(IsoErrorCode.NotIso, `Cannot read ISO 9660 image: ${detail} at sector ${sector}`)
}

/** The Joliet level named by the escape sequences (Joliet spec §3.1), or 0. */
export function jolietLevel(escapes: Uint8Array): 0 | 1 | 2 | 3 {
  for (let i = 0; i + 2 < escapes.length; i++) {
    if (escapes[i] !== 0x25 || escapes[i + 1] !== 0x2f) continue // "%/"
    const level = escapes[i + 2]
    if (level === 0x40) return 1 // "@"
    if (level === 0x43) return 2 // "C"
    if (level === 0x45) return 3 // "E"
  }
  return 0
}

const ascii = new TextDecoder('latin1')
const utf16be = new TextDecoder('utf-16be')

/** Decodes the descriptor in `bytes` (one sector) read from sector `sector`. */
export function decodeVolumeDescriptor(bytes: Uint8Array, sector: number): VolumeDescriptor {
  if (bytes.length < SECTOR_SIZE) {
    throw fail(sector, `volume descriptor is ${bytes.length} bytes, not ${SECTOR_SIZE},`)
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[1 + i] !== MAGIC[i]) throw fail(sector, 'volume descriptor identifier "CD001" not found')
  }
  const type = bytes[0] as number
  if (type === DescriptorType.Terminator) return { type: 'terminator' }
  if (type !== DescriptorType.Primary && type !== DescriptorType.Supplementary)
    return { type: 'other', code: type }

  const blockSize = readUint16LE(bytes, 128)
  if (blockSize !== 512 && blockSize !== 1024 && blockSize !== 2048) {
    throw fail(sector, `logical block size ${blockSize} is not 512, 1024 or 2048`)
  }
  let root: DirectoryRecord
  try {
    // The root record is exactly 34 bytes (a one-byte identifier, no system use area).
    root = decodeDirectoryRecord(bytes.subarray(156, 190), 0)
  } catch (cause) {
    throw new IsoError(
      IsoErrorCode.NotIso,
      `Cannot read ISO 9660 image: root directory record is invalid at sector ${sector}`,
      {
        cause,
      },
    )
  }
  // Joliet writes its identifiers in UCS-2 big-endian too.
  const joliet = type === DescriptorType.Supplementary ? jolietLevel(bytes.subarray(88, 120)) : 0
  const volumeId = (joliet === 0 ? ascii : utf16be).decode(bytes.subarray(40, 72))
  const common = {
    volumeId: volumeId.replace(/[\s\0]+$/, ''),
    volumeSpaceSize: readUint32LE(bytes, 80),
    blockSize,
    root,
  }
  if (type === DescriptorType.Primary) return { type: 'primary', ...common }
  return { type: 'supplementary', joliet, ...common }
}

/** The descriptors a reader uses, from the set. */
export interface VolumeSet {
  readonly primary: PrimaryVolume
  /** The first Joliet supplementary descriptor, if any. */
  readonly joliet?: SupplementaryVolume
}

/**
 * Reads the descriptor set, sector by sector, through `readSector` (which returns
 * fewer than 2048 bytes at the end of the image). Stops at the terminator, at the end
 * of the image, or after `maxDescriptors`, so a set without terminator cannot loop.
 */
export async function readVolumeSet(
  readSector: (sector: number) => Promise<Uint8Array>,
  maxDescriptors = 64,
): Promise<VolumeSet> {
  let primary: PrimaryVolume | undefined
  let joliet: SupplementaryVolume | undefined
  for (let i = 0; i < maxDescriptors; i++) {
    const sector = FIRST_DESCRIPTOR_SECTOR + i
    const bytes = await readSector(sector)
    if (bytes.length < SECTOR_SIZE) {
      if (i === 0) throw fail(sector, 'image ends before the volume descriptor set')
      break
    }
    let descriptor: VolumeDescriptor
    try {
      descriptor = decodeVolumeDescriptor(bytes, sector)
    } catch (error) {
      // The first descriptor decides whether this is ISO 9660 at all; later junk ends the set.
      if (i === 0 || primary === undefined) throw error
      break
    }
    if (descriptor.type === 'terminator') break
    if (descriptor.type === 'primary') primary ??= descriptor
    if (descriptor.type === 'supplementary' && descriptor.joliet !== 0) joliet ??= descriptor
  }
  if (primary === undefined) throw fail(FIRST_DESCRIPTOR_SECTOR, 'primary volume descriptor not found')
  return joliet === undefined ? { primary } : { primary, joliet }
}
