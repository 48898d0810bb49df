/** A read-only zip reader over bytes in memory: stored and deflated entries, bounded, zip-slip refused. */
export { ZipError } from './errors.ts'
export {
  DEFAULT_ZIP_LIMITS,
  openZip,
  safeEntryName,
  type ZipArchive,
  type ZipEntry,
  type ZipLimits,
} from './reader.ts'
