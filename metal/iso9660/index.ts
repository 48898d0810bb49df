/** A read-only ISO 9660 reader (Rock Ridge, Joliet, plain) and the installer ISO as a FileSource. */
export {
  type DirectoryRecord,
  decodeDirectoryRecord,
  directoryRecords,
  FileFlag,
  isoName,
} from './directory.ts'
export { IsoError, IsoErrorCode } from './errors.ts'
export { jolietName } from './joliet.ts'
export {
  type IsoEntry,
  type IsoEntryKind,
  type IsoExtent,
  IsoFile,
  IsoImage,
  type IsoImageOptions,
  type IsoTree,
} from './reader.ts'
export { decodeRockRidge, parseSuspArea, type RockRidge, type SuspEntry, suspSkip } from './rockridge.ts'
export { IsoSource } from './source.ts'
export { decodeVolumeDescriptor, jolietLevel, readVolumeSet, type VolumeDescriptor } from './volume.ts'
