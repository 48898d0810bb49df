/** A read-only ISO 9660 reader (Rock Ridge, Joliet, plain), positional reads only. */
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
export { decodeVolumeDescriptor, jolietLevel, readVolumeSet, type VolumeDescriptor } from './volume.ts'
