/**
 * The installer ISO: downloaded once (resumable), verified by sha256, cached.
 *
 * The file lands at <cacheDir>/<sha256>.iso only after its digest matched; a partial
 * download is kept as <sha256>.iso.part and resumed with a Range request on the next
 * run. A verified ISO is not hashed again (a marker records its size and mtime).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

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

export class IsoError extends Error {
  readonly code: 'HOMELAB_ISO_DOWNLOAD' | 'HOMELAB_ISO_CHECKSUM'
  constructor(code: IsoError['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'IsoError'
    this.code = code
  }
}

export interface EnsureIsoOptions {
  readonly url: string
  readonly sha256: string
  readonly cacheDir: string
  readonly progress?: (event: IsoProgress) => void
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
  /** The cached file's name. @default `<sha256>.iso` */
  readonly fileName?: string
  /** What is downloaded and where its digest is pinned, for messages. @default the ISO of os.iso */
  readonly label?: { readonly what: string; readonly pinnedBy: string; readonly urlFix: string }
}

const ISO_LABEL = {
  what: 'ISO',
  pinnedBy: 'os.iso.sha256 in homelab.yaml',
  urlFix: 'check os.iso.url in homelab.yaml',
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

/** Returns the path of the verified ISO, downloading or resuming as needed. */
export async function ensureIso(options: EnsureIsoOptions): Promise<string> {
  const emit = options.progress ?? (() => {})
  const doFetch = options.fetch ?? fetch
  await mkdir(options.cacheDir, { recursive: true })
  const label = options.label ?? ISO_LABEL
  const final = join(options.cacheDir, options.fileName ?? `${options.sha256}.iso`)
  const marker = `${final}.verified`
  const part = `${final}.part`

  const finalStat = await stat(final).catch(() => undefined)
  if (finalStat !== undefined) {
    const recorded = await readFile(marker, 'utf8').catch(() => '')
    if (recorded === `${finalStat.size} ${finalStat.mtimeMs}`) {
      emit({ type: 'iso.cached', path: final })
      return final
    }
    emit({ type: 'iso.verify', path: final })
    if ((await sha256Of(final)) === options.sha256) {
      await writeFile(marker, `${finalStat.size} ${finalStat.mtimeMs}`)
      emit({ type: 'iso.ready', path: final, bytes: finalStat.size })
      return final
    }
    await unlink(final)
  }

  let offset = (await sizeOf(part)) ?? 0
  let response: Response
  try {
    response = await doFetch(options.url, offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {})
  } catch (cause) {
    throw new IsoError(
      'HOMELAB_ISO_DOWNLOAD',
      `Cannot download ${label.what}: ${options.url}: ${(cause as Error).message} (check the URL and the network; the download resumes on the next run)`,
      { cause },
    )
  }
  if (offset > 0 && response.status === 200) offset = 0 // the server ignored Range: start over
  if (!(response.status === 200 || response.status === 206) || response.body === null) {
    throw new IsoError(
      'HOMELAB_ISO_DOWNLOAD',
      `Cannot download ${label.what}: ${options.url} answered ${response.status} ${response.statusText} (${label.urlFix})`,
    )
  }
  const length = Number(response.headers.get('content-length') ?? Number.NaN)
  const total = Number.isFinite(length) ? offset + length : undefined
  const file = await open(part, offset > 0 ? 'a' : 'w')
  let received = offset
  let lastReport = 0
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk)
      received += chunk.length
      if (received - lastReport >= 8 << 20) {
        lastReport = received
        emit({ type: 'iso.download', url: options.url, received, total })
      }
    }
  } catch (cause) {
    throw new IsoError(
      'HOMELAB_ISO_DOWNLOAD',
      `Cannot download ${label.what}: the connection broke after ${received} bytes (run again to resume)`,
      { cause },
    )
  } finally {
    await file.close()
  }
  emit({ type: 'iso.download', url: options.url, received, total })
  if (total !== undefined && received !== total) {
    throw new IsoError(
      'HOMELAB_ISO_DOWNLOAD',
      `Cannot download ${label.what}: got ${received} of ${total} bytes (run again to resume)`,
    )
  }
  emit({ type: 'iso.verify', path: part })
  const digest = await sha256Of(part)
  if (digest !== options.sha256) {
    await unlink(part)
    throw new IsoError(
      'HOMELAB_ISO_CHECKSUM',
      `Cannot use ${label.what}: its sha256 is ${digest}, but ${label.pinnedBy} says ${options.sha256} (the download was removed; check the digest against the release's CHECKSUM file)`,
    )
  }
  await rename(part, final)
  const done = await stat(final)
  await writeFile(marker, `${done.size} ${done.mtimeMs}`)
  emit({ type: 'iso.ready', path: final, bytes: done.size })
  return final
}

/** For `homelab doctor`: is the pinned ISO here and verified, without downloading or hashing it? */
export async function isoCacheStatus(
  url: string,
  sha256: string,
  cacheDir: string,
): Promise<{ status: 'ok' | 'warn'; detail: string; fix?: string }> {
  const final = join(cacheDir, `${sha256}.iso`)
  const info = await stat(final).catch(() => undefined)
  if (info !== undefined) {
    const recorded = await readFile(`${final}.verified`, 'utf8').catch(() => '')
    if (recorded === `${info.size} ${info.mtimeMs}`) {
      return { status: 'ok', detail: `${final} is here and matches os.iso.sha256` }
    }
    return { status: 'ok', detail: `${final} is here; its sha256 is checked before use` }
  }
  const partial = await sizeOf(`${final}.part`)
  return {
    status: 'warn',
    detail: `not downloaded yet${partial === undefined ? '' : ` (${(partial / 2 ** 20).toFixed(0)} MiB of a download so far)`}: ${url}`,
    fix: '`homelab metal` downloads it (resumable) and checks its sha256 before booting anything',
  }
}
