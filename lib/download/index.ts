/** A download cache: resumable downloads, verified against a pinned sha256, kept until they change. */
export {
  type CachedFile,
  cachedFile,
  DownloadError,
  type DownloadLabel,
  type DownloadProgress,
  type EnsureDownloadOptions,
  ensureDownload,
} from './cache.ts'
