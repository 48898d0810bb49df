/**
 * The upstream chart archives `homelab validate` renders with, kept in `.cache/charts`.
 *
 * `fetchChart()` (homelab validate --fetch) reads the repository's index.yaml, finds the pinned
 * version, and downloads its archive through lib/download, checked against the sha256 `digest`
 * the index gives. That digest is recorded beside the archive (`<name>-<version>.tgz.digest.json`):
 * a later fetch refuses an index that now says another digest for the same version (a
 * republished chart), and `cachedChart()` hands out an archive only while it matches the record.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { cachedFile, DownloadError, ensureDownload } from '../../lib/download/index.ts'
import type { ChartDependency } from '../render/helm.ts'

/** The archives' folder under the repository root. */
export const CHART_CACHE = '.cache/charts'
/** index.yaml files are big (tens of MB for large repositories) but bounded. */
export const MAX_INDEX_BYTES = 64 << 20

export class ChartFetchError extends Error {
  readonly code: 'HOMELAB_CHART_FETCH' | 'HOMELAB_CHART_DIGEST'
  constructor(code: ChartFetchError['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ChartFetchError'
    this.code = code
  }
}

/** What the index said when the archive was fetched. */
interface DigestRecord {
  readonly sha256: string
  readonly url: string
  readonly index: string
}

const archiveName = (dep: Pick<ChartDependency, 'name' | 'version'>) => `${dep.name}-${dep.version}.tgz`
const recordPath = (cacheDir: string, dep: ChartDependency) =>
  join(cacheDir, `${archiveName(dep)}.digest.json`)
/** Text a server controls, made safe for a terminal: quoted, control characters escaped, bounded. */
const shown = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)

async function _record(cacheDir: string, dep: ChartDependency): Promise<DigestRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(cacheDir, dep), 'utf8')) as DigestRecord
    return /^[0-9a-f]{64}$/.test(record.sha256) ? record : undefined
  } catch {
    return undefined
  }
}

async function _sha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** What the cache holds of a dependency's archive. */
export type CachedChart =
  | { readonly state: 'verified'; readonly path: string }
  | { readonly state: 'missing' }
  /** Here, but not the bytes the index named when it was fetched: not used. */
  | { readonly state: 'mismatch'; readonly path: string; readonly message: string }

/** The verified archive of `dep` in cacheDir, without touching the network. */
export async function cachedChart(cacheDir: string, dep: ChartDependency): Promise<CachedChart> {
  const record = await _record(cacheDir, dep)
  const file = await cachedFile(cacheDir, archiveName(dep))
  if (record === undefined || file.state === 'missing') return { state: 'missing' }
  if (file.state === 'verified') return { state: 'verified', path: file.path }
  const digest = await _sha256(file.path)
  if (digest === record.sha256) return { state: 'verified', path: file.path }
  return {
    state: 'mismatch',
    path: file.path,
    message: `${file.path} has sha256 ${digest}, but ${record.index} gave ${record.sha256} when it was fetched: delete it and run \`homelab validate --fetch\``,
  }
}

/** The index entry of `dep`: its archive URL (resolved against the index) and sha256 digest. */
export function indexEntry(
  indexText: string,
  indexUrl: string,
  dep: ChartDependency,
): { url: string; sha256: string } {
  let index: { entries?: Record<string, { version?: unknown; urls?: unknown; digest?: unknown }[]> }
  try {
    index = (parseYaml(indexText, { maxAliasCount: 1000 }) ?? {}) as typeof index
  } catch (cause) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot read ${indexUrl}: it is not YAML (${(cause as Error).message.split('\n')[0]})`,
      { cause },
    )
  }
  const versions = index.entries?.[dep.name]
  if (!Array.isArray(versions)) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch chart ${dep.name}: ${indexUrl} lists no chart of that name (check the dependency's name and repository)`,
    )
  }
  const entry = versions.find((v) => v?.version === dep.version)
  if (entry === undefined) {
    const listed = versions
      .map((v) => String(v?.version))
      .slice(0, 12)
      .join(', ')
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch chart ${dep.name} ${dep.version}: ${indexUrl} does not list that version (it lists ${shown(listed)}…): pin a listed version in Chart.yaml`,
    )
  }
  const first = Array.isArray(entry.urls) ? entry.urls[0] : undefined
  if (typeof first !== 'string') {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch chart ${dep.name} ${dep.version}: its entry in ${indexUrl} has no urls`,
    )
  }
  if (typeof entry.digest !== 'string' || !/^[0-9a-f]{64}$/.test(entry.digest)) {
    throw new ChartFetchError(
      'HOMELAB_CHART_DIGEST',
      `Cannot fetch chart ${dep.name} ${dep.version}: its entry in ${indexUrl} has no sha256 digest (${shown(String(entry.digest))}), so its archive cannot be verified`,
    )
  }
  let url: string
  try {
    url = new URL(first, indexUrl).href
  } catch (cause) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch chart ${dep.name} ${dep.version}: its URL ${shown(first)} is not a URL`,
      { cause },
    )
  }
  return { url, sha256: entry.digest }
}

/** Reads the index at `url`, refusing one bigger than MAX_INDEX_BYTES. */
async function _index(url: string, fetchImpl: typeof fetch): Promise<string> {
  let response: Response
  try {
    response = await fetchImpl(url)
  } catch (cause) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch ${url}: ${(cause as Error).message} (check the network and the dependency's repository)`,
      { cause },
    )
  }
  if (response.status !== 200 || response.body === null) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch ${url}: it answered ${response.status} ${shown(response.statusText)} (check the dependency's repository)`,
    )
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > MAX_INDEX_BYTES) {
      throw new ChartFetchError(
        'HOMELAB_CHART_FETCH',
        `Cannot fetch ${url}: it is bigger than ${MAX_INDEX_BYTES} bytes`,
      )
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export interface FetchChartOptions {
  readonly cacheDir: string
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
}

/** Downloads `dep`'s archive from its repository's index (once), verified by the index's digest; returns its path. */
export async function fetchChart(dep: ChartDependency, options: FetchChartOptions): Promise<string> {
  if (!dep.repository.startsWith('https://') && !dep.repository.startsWith('http://')) {
    throw new ChartFetchError(
      'HOMELAB_CHART_FETCH',
      `Cannot fetch chart ${dep.name} ${dep.version}: only http(s):// repositories with an index.yaml are fetched, not ${shown(dep.repository)}`,
    )
  }
  const fetchImpl = options.fetch ?? fetch
  const indexUrl = `${dep.repository.replace(/\/+$/, '')}/index.yaml`
  const entry = indexEntry(await _index(indexUrl, fetchImpl), indexUrl, dep)
  const recorded = await _record(options.cacheDir, dep)
  if (recorded !== undefined && recorded.sha256 !== entry.sha256) {
    throw new ChartFetchError(
      'HOMELAB_CHART_DIGEST',
      `Cannot fetch chart ${dep.name} ${dep.version}: ${indexUrl} now says sha256 ${entry.sha256}, but it said ${recorded.sha256} when the archive was first fetched (recorded in ${recordPath(options.cacheDir, dep)}): the published chart changed; check why before you delete the record`,
    )
  }
  let path: string
  try {
    path = await ensureDownload({
      url: entry.url,
      sha256: entry.sha256,
      cacheDir: options.cacheDir,
      fileName: archiveName(dep),
      label: { what: `chart ${dep.name} ${dep.version}`, pinnedBy: indexUrl, urlFix: `check ${indexUrl}` },
      fetch: fetchImpl,
    })
  } catch (cause) {
    if (!(cause instanceof DownloadError)) throw cause
    const code = cause.code === 'HOMELAB_DOWNLOAD_CHECKSUM' ? 'HOMELAB_CHART_DIGEST' : 'HOMELAB_CHART_FETCH'
    throw new ChartFetchError(code, cause.message, { cause })
  }
  if (recorded === undefined) {
    const record: DigestRecord = { sha256: entry.sha256, url: entry.url, index: indexUrl }
    await writeFile(recordPath(options.cacheDir, dep), `${JSON.stringify(record, null, 2)}\n`).catch(
      async (cause) => {
        await unlink(path).catch(() => {})
        throw cause
      },
    )
  }
  return path
}
