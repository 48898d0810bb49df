/**
 * ArgoCD's pinned install manifest: bootstrap/argocd/upstream.yaml names the version, the URL
 * (the one install/kustomization.yaml lists) and the sha256. The manifest is downloaded once into
 * `<cacheDir>/<version>/install.yaml` and verified (lib/download/); an unpinned manifest is
 * refused. `pinArgocd()` downloads it and records its digest, for a person to review and commit.
 *
 * HOMELAB_ARGOCD_MANIFEST_URL overrides where it is downloaded from (air-gapped mirrors, tests),
 * never the digest it must have.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { type DownloadProgress, ensureDownload } from '../../lib/download/index.ts'
import type { KubeObject } from '../../lib/kube/index.ts'

/** The upstream.yaml in this folder. */
export const UPSTREAM_FILE = fileURLToPath(new URL('upstream.yaml', import.meta.url))

export interface ArgocdUpstream {
  readonly version: string
  /** Where it is downloaded from: `pinnedUrl`, or HOMELAB_ARGOCD_MANIFEST_URL when set. */
  readonly url: string
  /** upstream.yaml's `url`: the resource install/kustomization.yaml lists. */
  readonly pinnedUrl: string
  /** Empty when not pinned yet. */
  readonly sha256: string
  /** The file it was read from. */
  readonly file: string
}

export class ArgocdPinError extends Error {
  readonly code = 'HOMELAB_ARGOCD_UNPINNED'
  override name = 'ArgocdPinError'
}

/** Reads upstream.yaml; the URL from HOMELAB_ARGOCD_MANIFEST_URL when set. */
export async function readUpstream(
  file: string = UPSTREAM_FILE,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ArgocdUpstream> {
  let data: Record<string, unknown>
  try {
    data = (parseYaml(await readFile(file, 'utf8')) ?? {}) as Record<string, unknown>
  } catch (cause) {
    throw new Error(`Cannot read the pinned ArgoCD manifest: ${file}: ${(cause as Error).message}`, { cause })
  }
  const field = (name: string): string => {
    const value = data[name]
    if (typeof value !== 'string' || (name !== 'sha256' && value === '')) {
      throw new Error(
        `Cannot read the pinned ArgoCD manifest: ${file}: "${name}" is missing (expected a string)`,
      )
    }
    return value
  }
  const sha256 = field('sha256')
  if (sha256 !== '' && !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new Error(
      `Cannot read the pinned ArgoCD manifest: ${file}: sha256 "${sha256}" is not 64 lower-case hex digits (run \`homelab bootstrap --pin-argocd\`)`,
    )
  }
  const override = env.HOMELAB_ARGOCD_MANIFEST_URL
  const pinnedUrl = field('url')
  return {
    version: field('version'),
    url: override !== undefined && override !== '' ? override : pinnedUrl,
    pinnedUrl,
    sha256,
    file,
  }
}

export interface EnsureManifestOptions {
  readonly upstream: ArgocdUpstream
  /** `.cache/argocd` */
  readonly cacheDir: string
  readonly progress?: (event: DownloadProgress) => void
  readonly fetch?: typeof fetch
}

/** The verified manifest's text; refuses an unpinned one before downloading anything. */
export async function ensureArgocdManifest(
  options: EnsureManifestOptions,
): Promise<{ path: string; text: string }> {
  const { upstream } = options
  if (upstream.sha256 === '') {
    throw new ArgocdPinError(
      `Cannot install ArgoCD ${upstream.version}: ${upstream.file} pins no sha256 (sha256: ""): ` +
        'run `homelab bootstrap --pin-argocd` to download the manifest and record its digest, review the change, then commit it',
    )
  }
  const path = await ensureDownload({
    url: upstream.url,
    sha256: upstream.sha256,
    cacheDir: join(options.cacheDir, upstream.version),
    fileName: 'install.yaml',
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.progress === undefined ? {} : { progress: options.progress }),
    label: {
      what: `the ArgoCD ${upstream.version} install manifest`,
      pinnedBy: `${upstream.file}`,
      urlFix: `check version and url in ${upstream.file}, or HOMELAB_ARGOCD_MANIFEST_URL`,
    },
  })
  return { path, text: await readFile(path, 'utf8') }
}

/**
 * Downloads the manifest, records its sha256 in upstream.yaml (only that line changes) and
 * caches it. Returns the digest. Run by a person, who reviews and commits the change.
 */
export async function pinArgocd(options: {
  readonly upstream: ArgocdUpstream
  readonly cacheDir: string
  readonly fetch?: typeof fetch
}): Promise<{ sha256: string; bytes: number; path: string; changed: boolean }> {
  const { upstream } = options
  const doFetch = options.fetch ?? fetch
  let response: Response
  try {
    response = await doFetch(upstream.url)
  } catch (cause) {
    throw new Error(
      `Cannot download the ArgoCD ${upstream.version} install manifest: ${upstream.url}: ${(cause as Error).message} (check the network, or set HOMELAB_ARGOCD_MANIFEST_URL to a mirror)`,
      { cause },
    )
  }
  if (!response.ok) {
    throw new Error(
      `Cannot download the ArgoCD ${upstream.version} install manifest: ${upstream.url} answered ${response.status} ${response.statusText} (check version and url in ${upstream.file})`,
    )
  }
  const body = Buffer.from(await response.arrayBuffer())
  splitManifest(body.toString('utf8')) // refuse to pin something that is not a manifest
  const sha256 = createHash('sha256').update(body).digest('hex')
  const dir = join(options.cacheDir, upstream.version)
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'install.yaml')
  await writeFile(`${path}.part`, body)
  await rename(`${path}.part`, path)
  const text = await readFile(upstream.file, 'utf8')
  const updated = text.replace(/^sha256:.*$/m, `sha256: ${sha256}`)
  if (updated === text && !text.includes(`sha256: ${sha256}`)) {
    throw new Error(`Cannot record the digest: ${upstream.file} has no "sha256:" line (add \`sha256: ""\`)`)
  }
  if (updated !== text) await writeFile(upstream.file, updated)
  return { sha256, bytes: body.length, path, changed: updated !== text }
}

/** The manifest's objects, in file order; empty documents and `List` wrappers handled. */
export function splitManifest(text: string): KubeObject[] {
  const objects: KubeObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`Cannot read the ArgoCD install manifest: ${doc.errors[0]?.message.split('\n')[0]}`)
    }
    const value = doc.toJS() as KubeObject | null
    if (value === null || value === undefined) continue
    const items =
      value.kind?.endsWith('List') && Array.isArray(value.items) ? (value.items as KubeObject[]) : [value]
    for (const item of items) {
      if (typeof item?.apiVersion !== 'string' || typeof item.kind !== 'string' || !item.metadata?.name) {
        throw new Error(
          'Cannot read the ArgoCD install manifest: a document has no apiVersion, kind or metadata.name (is the URL a Kubernetes manifest?)',
        )
      }
      objects.push(item)
    }
  }
  if (objects.length === 0) throw new Error('Cannot read the ArgoCD install manifest: it holds no objects')
  return objects
}
