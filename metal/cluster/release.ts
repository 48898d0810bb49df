/**
 * The k3s binary of the pinned release: downloaded once into the cache, verified against the
 * sha256 the release publishes (sha256sum-<arch>.txt), then uploaded to every node.
 *
 * Releases come from GitHub; HOMELAB_K3S_RELEASES points at a mirror with the same layout
 * (<base>/<version>/k3s and <base>/<version>/sha256sum-amd64.txt), for air-gapped sites and tests.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type DownloadProgress, ensureDownload } from '../../lib/download/index.ts'

export const K3S_RELEASES = 'https://github.com/k3s-io/k3s/releases/download'

export interface K3sArtifact {
  readonly path: string
  readonly sha256: string
  readonly arch: K3sArch
}

export type K3sArch = 'amd64' | 'arm64'

/** `uname -m` to k3s's release names. */
export function k3sArch(unameM: string): K3sArch | undefined {
  if (unameM === 'x86_64' || unameM === 'amd64') return 'amd64'
  if (unameM === 'aarch64' || unameM === 'arm64') return 'arm64'
  return undefined
}

function binaryName(arch: K3sArch): string {
  return arch === 'amd64' ? 'k3s' : `k3s-${arch}`
}

/** The digest of `name` in a sha256sum listing ("<hex>  <name>" per line). */
export function digestFromSums(sums: string, name: string): string | undefined {
  for (const line of sums.split('\n')) {
    const match = /^([0-9a-f]{64})\s+\*?(\S+)\s*$/.exec(line.trim())
    if (match?.[2] === name) return match[1]
  }
  return undefined
}

export interface EnsureK3sOptions {
  readonly version: string
  readonly arch: K3sArch
  readonly cacheDir: string
  readonly baseUrl?: string
  readonly progress?: (event: DownloadProgress) => void
  readonly fetch?: typeof fetch
}

export async function ensureK3s(options: EnsureK3sOptions): Promise<K3sArtifact> {
  const base = (options.baseUrl ?? process.env.HOMELAB_K3S_RELEASES ?? K3S_RELEASES).replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const dir = join(options.cacheDir, options.version)
  await mkdir(dir, { recursive: true })
  const name = binaryName(options.arch)
  const sumsName = `sha256sum-${options.arch}.txt`
  const sumsPath = join(dir, sumsName)
  const releaseUrl = `${base}/${encodeURIComponent(options.version)}`
  let sums = await readFile(sumsPath, 'utf8').catch(() => undefined)
  if (sums === undefined || digestFromSums(sums, name) === undefined) {
    const url = `${releaseUrl}/${sumsName}`
    let response: Response
    try {
      response = await doFetch(url)
    } catch (cause) {
      throw new Error(
        `Cannot download the k3s checksums: ${url}: ${(cause as Error).message} (check the network, or set HOMELAB_K3S_RELEASES to a mirror)`,
        { cause },
      )
    }
    if (!response.ok) {
      throw new Error(
        `Cannot download the k3s checksums: ${url} answered ${response.status} ${response.statusText} (check cluster.k3sVersion in homelab.yaml: is ${options.version} a k3s release?)`,
      )
    }
    sums = await response.text()
    if (digestFromSums(sums, name) === undefined) {
      throw new Error(`Cannot verify k3s: ${url} lists no digest for ${name}`)
    }
    await writeFile(sumsPath, sums)
  }
  const sha256 = digestFromSums(sums, name) as string
  const path = await ensureDownload({
    url: `${releaseUrl}/${name}`,
    sha256,
    cacheDir: dir,
    fileName: name,
    fetch: doFetch,
    ...(options.progress === undefined ? {} : { progress: options.progress }),
    label: {
      what: `k3s ${options.version}`,
      pinnedBy: `the release's ${sumsName}`,
      urlFix: `check cluster.k3sVersion in homelab.yaml, or HOMELAB_K3S_RELEASES`,
    },
  })
  return { path, sha256, arch: options.arch }
}
