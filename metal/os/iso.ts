/**
 * The installer ISO named by os.iso in homelab.yaml: downloaded once (resumable), verified by its
 * pinned sha256 and cached as <cacheDir>/<sha256>.iso, by the download cache (lib/download/).
 */
import { cachedFile, type DownloadProgress, ensureDownload } from '../../lib/download/index.ts'

/** Progress of the ISO download, as `homelab metal --json` prints it. */
export type IsoProgress =
  | { readonly type: 'iso.cached'; readonly path: string }
  | {
      readonly type: 'iso.download'
      readonly url: string
      readonly received: number
      readonly total: number | undefined
    }
  | { readonly type: 'iso.verify'; readonly path: string }
  | { readonly type: 'iso.ready'; readonly path: string; readonly bytes: number }

export interface EnsureIsoOptions {
  /** os.iso.url */
  readonly url: string
  /** os.iso.sha256 */
  readonly sha256: string
  readonly cacheDir: string
  readonly progress?: (event: IsoProgress) => void
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
}

const ISO_LABEL = {
  what: 'ISO',
  pinnedBy: 'os.iso.sha256 in homelab.yaml',
  urlFix: 'check os.iso.url in homelab.yaml',
}

function isoFileName(sha256: string): string {
  return `${sha256}.iso`
}

function isoProgress(e: DownloadProgress): IsoProgress {
  switch (e.type) {
    case 'download.cached':
      return { type: 'iso.cached', path: e.path }
    case 'download.progress':
      return { type: 'iso.download', url: e.url, received: e.received, total: e.total }
    case 'download.verify':
      return { type: 'iso.verify', path: e.path }
    case 'download.ready':
      return { type: 'iso.ready', path: e.path, bytes: e.bytes }
  }
}

/** Returns the path of the verified ISO, downloading or resuming as needed. */
export function ensureIso(options: EnsureIsoOptions): Promise<string> {
  const { progress } = options
  return ensureDownload({
    url: options.url,
    sha256: options.sha256,
    cacheDir: options.cacheDir,
    fileName: isoFileName(options.sha256),
    label: ISO_LABEL,
    ...(progress === undefined ? {} : { progress: (e: DownloadProgress) => progress(isoProgress(e)) }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  })
}

/** For `homelab doctor`: is the pinned ISO here and verified, without downloading or hashing it? */
export async function isoCacheStatus(
  url: string,
  sha256: string,
  cacheDir: string,
): Promise<{ status: 'ok' | 'warn'; detail: string; fix?: string }> {
  const cached = await cachedFile(cacheDir, isoFileName(sha256))
  switch (cached.state) {
    case 'verified':
      return { status: 'ok', detail: `${cached.path} is here and matches os.iso.sha256` }
    case 'unverified':
      return { status: 'ok', detail: `${cached.path} is here; its sha256 is checked before use` }
    case 'missing':
      return {
        status: 'warn',
        detail: `not downloaded yet${cached.partialBytes === undefined ? '' : ` (${(cached.partialBytes / 2 ** 20).toFixed(0)} MiB of a download so far)`}: ${url}`,
        fix: '`homelab metal` downloads it (resumable) and checks its sha256 before booting anything',
      }
  }
}
