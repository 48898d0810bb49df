/**
 * A download cache: each file downloaded once (resumable), verified by a pinned sha256, cached.
 *
 * The file lands at <cacheDir>/<fileName> only after its digest matched; a partial download is
 * kept as <fileName>.part and resumed with a Range request on the next run. A verified file is
 * not hashed again (a marker, <fileName>.verified, records its size and mtime).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export type DownloadProgress =
  /** The file was here and verified before: nothing downloaded, nothing hashed. */
  | { readonly type: 'download.cached'; readonly path: string }
  /** Bytes received so far (every 8 MiB, and once at the end). */
  | {
      readonly type: 'download.progress'
      readonly url: string
      readonly received: number
      readonly total: number | undefined
    }
  /** Hashing the file against the pinned sha256. */
  | { readonly type: 'download.verify'; readonly path: string }
  /** The file is in the cache and matched its sha256. */
  | { readonly type: 'download.ready'; readonly path: string; readonly bytes: number }

export class DownloadError extends Error {
  readonly code: 'HOMELAB_DOWNLOAD_FAILED' | 'HOMELAB_DOWNLOAD_CHECKSUM'
  constructor(code: DownloadError['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DownloadError'
    this.code = code
  }
}

/** What is downloaded and where its digest is pinned, for messages. */
export interface DownloadLabel {
  /** Like "the ArgoCD v3.1.0 install manifest". */
  readonly what: string
  /** Like "bootstrap/argocd/upstream.yaml". */
  readonly pinnedBy: string
  /** What to check when the URL answers with an error, like "check os.iso.url in homelab.yaml". */
  readonly urlFix: string
}

export interface EnsureDownloadOptions {
  readonly url: string
  /** The pinned digest, lowercase hex. */
  readonly sha256: string
  readonly cacheDir: string
  /** The cached file's name in cacheDir. */
  readonly fileName: string
  readonly label: DownloadLabel
  readonly progress?: (event: DownloadProgress) => void
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch {
    return undefined
  }
}

/** What the `.verified` marker records of a file: its size and mtime. */
export const markerText = (info: { size: number; mtimeMs: number }) => `${info.size} ${info.mtimeMs}`

/**
 * Where the body of an answer starts in the file: at `offset` when the server honoured the Range
 * (206), from the start when it sent the whole file (200); and the file's total size, if known.
 */
export function resumePoint(
  offset: number,
  status: number,
  contentLength: string | null,
): { offset: number; total: number | undefined } {
  const from = offset > 0 && status === 200 ? 0 : offset
  const length = Number(contentLength ?? Number.NaN)
  return { offset: from, total: Number.isFinite(length) ? from + length : undefined }
}

/** Returns the path of the verified file, downloading or resuming as needed. */
export async function ensureDownload(options: EnsureDownloadOptions): Promise<string> {
  const emit = options.progress ?? (() => {})
  await mkdir(options.cacheDir, { recursive: true })
  const final = join(options.cacheDir, options.fileName)
  if (await _reuse(final, options.sha256, emit)) return final
  const part = `${final}.part`
  await _download(options, part, emit)
  emit({ type: 'download.verify', path: part })
  const digest = await sha256Of(part)
  if (digest !== options.sha256) {
    await unlink(part)
    throw new DownloadError(
      'HOMELAB_DOWNLOAD_CHECKSUM',
      `Cannot use ${options.label.what}: its sha256 is ${digest}, but ${options.label.pinnedBy} says ${options.sha256} (the download was removed; check the digest against the release's CHECKSUM file)`,
    )
  }
  await rename(part, final)
  const done = await stat(final)
  await writeFile(`${final}.verified`, markerText(done))
  emit({ type: 'download.ready', path: final, bytes: done.size })
  return final
}

/** True when the cached file can be handed out (verified before, or hashed now); a wrong one is removed. */
async function _reuse(
  final: string,
  sha256: string,
  emit: (event: DownloadProgress) => void,
): Promise<boolean> {
  const marker = `${final}.verified`
  const finalStat = await stat(final).catch(() => undefined)
  if (finalStat === undefined) return false
  const recorded = await readFile(marker, 'utf8').catch(() => '')
  if (recorded === markerText(finalStat)) {
    emit({ type: 'download.cached', path: final })
    return true
  }
  emit({ type: 'download.verify', path: final })
  if ((await sha256Of(final)) === sha256) {
    await writeFile(marker, markerText(finalStat))
    emit({ type: 'download.ready', path: final, bytes: finalStat.size })
    return true
  }
  await unlink(final)
  return false
}

/** Downloads into `part`, resuming what an earlier run left there; throws unless every byte came. */
async function _download(
  options: EnsureDownloadOptions,
  part: string,
  emit: (event: DownloadProgress) => void,
): Promise<void> {
  const { label } = options
  const partial = (await sizeOf(part)) ?? 0
  let response: Response
  try {
    response = await (options.fetch ?? fetch)(
      options.url,
      partial > 0 ? { headers: { range: `bytes=${partial}-` } } : {},
    )
  } catch (cause) {
    throw new DownloadError(
      'HOMELAB_DOWNLOAD_FAILED',
      `Cannot download ${label.what}: ${options.url}: ${(cause as Error).message} (check the URL and the network; the download resumes on the next run)`,
      { cause },
    )
  }
  if (!(response.status === 200 || response.status === 206) || response.body === null) {
    throw new DownloadError(
      'HOMELAB_DOWNLOAD_FAILED',
      `Cannot download ${label.what}: ${options.url} answered ${response.status} ${response.statusText} (${label.urlFix})`,
    )
  }
  const { offset, total } = resumePoint(partial, response.status, response.headers.get('content-length'))
  const received = await _write(part, offset, response.body, label, (n) =>
    emit({ type: 'download.progress', url: options.url, received: n, total }),
  )
  emit({ type: 'download.progress', url: options.url, received, total })
  if (total !== undefined && received !== total) {
    throw new DownloadError(
      'HOMELAB_DOWNLOAD_FAILED',
      `Cannot download ${label.what}: got ${received} of ${total} bytes (run again to resume)`,
    )
  }
}

/** Appends the body at `offset` (truncating at 0); reports every 8 MiB; resolves with the bytes in the file. */
async function _write(
  part: string,
  offset: number,
  body: ReadableStream<Uint8Array>,
  label: DownloadLabel,
  report: (received: number) => void,
): Promise<number> {
  const file = await open(part, offset > 0 ? 'a' : 'w')
  let received = offset
  let lastReport = 0
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk)
      received += chunk.length
      if (received - lastReport >= 8 << 20) {
        lastReport = received
        report(received)
      }
    }
  } catch (cause) {
    throw new DownloadError(
      'HOMELAB_DOWNLOAD_FAILED',
      `Cannot download ${label.what}: the connection broke after ${received} bytes (run again to resume)`,
      { cause },
    )
  } finally {
    await file.close()
  }
  return received
}

/** What the cache holds of a file, without downloading or hashing anything. */
export type CachedFile =
  /** Here, and verified (by this cache) since it last changed. */
  | { readonly state: 'verified'; readonly path: string }
  /** Here, but not verified yet: ensureDownload() hashes it before handing it out. */
  | { readonly state: 'unverified'; readonly path: string }
  /** Not here; `partialBytes` of an interrupted download wait to be resumed, if any. */
  | { readonly state: 'missing'; readonly path: string; readonly partialBytes: number | undefined }

export async function cachedFile(cacheDir: string, fileName: string): Promise<CachedFile> {
  const path = join(cacheDir, fileName)
  const info = await stat(path).catch(() => undefined)
  if (info !== undefined) {
    const recorded = await readFile(`${path}.verified`, 'utf8').catch(() => '')
    return { state: recorded === markerText(info) ? 'verified' : 'unverified', path }
  }
  return { state: 'missing', path, partialBytes: await sizeOf(`${path}.part`) }
}
