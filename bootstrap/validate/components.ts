/**
 * Checks every component folder the root app's generators match (docs/gitops.md, "Components"):
 * Chart.yaml (apiVersion v2, name = folder, semver version, dependencies pinned exactly to an
 * https://, oci:// or file:// repository), values.yaml, the chart rendered by real Helm
 * (bootstrap/render/helm.ts) with the settings from homelab.yaml, every rendered manifest against
 * its schema, every HTTPRoute on the shared Gateway and the configured domain with a backend the
 * render defines (routes.ts), no Bitnami image (images.ts), and namespaces unique across layers.
 */
import { readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ensureHelm } from '../../lib/toolbox/index.ts'
import {
  type ChartDependency,
  type HelmRender,
  HelmRenderError,
  helmTemplate,
  type RenderedManifest,
} from '../render/helm.ts'
import { type GeneratedFolder, generatedFolders } from '../root/discover.ts'
import type { ClusterSettings } from '../settings.ts'
import { CHART_CACHE, ChartFetchError, cachedChart, fetchChart } from './charts.ts'
import { imageProblems } from './images.ts'
import { type RouteBackend, routeReport } from './routes.ts'
import { schemaProblems } from './schemas.ts'

/** One problem, with the file it is in (relative to the repo root). */
export interface ComponentProblem {
  readonly file: string
  readonly message: string
}

/** A component and the manifests it renders (its own templates, and upstream charts when cached). */
export interface RenderedComponent {
  readonly folder: GeneratedFolder
  readonly manifests: readonly RenderedManifest[]
  /** Its HTTPRoutes' backends, each checked against the render or left unverified (and why). */
  readonly backends: readonly RouteBackend[]
}

/** Exact semver (Helm accepts a leading v, as in cert-manager v1.19.4): MAJOR.MINOR.PATCH with optional pre-release and build; no ranges, no x. */
export const EXACT_SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/
const REPOSITORY = /^(https|oci|file):\/\/\S+$/

interface ChartYaml {
  apiVersion?: unknown
  name?: unknown
  version?: unknown
  type?: unknown
  dependencies?: unknown
}

/** The problems of one Chart.yaml's text (the folder's name is the chart's). */
export function chartProblems(text: string, folderName: string): string[] {
  let chart: ChartYaml
  try {
    chart = (parseYaml(text) ?? {}) as ChartYaml
  } catch (cause) {
    return [`is not YAML: ${(cause as Error).message.split('\n')[0]}`]
  }
  const problems: string[] = []
  if (chart.apiVersion !== 'v2')
    problems.push(`apiVersion is ${JSON.stringify(chart.apiVersion)}: set apiVersion: v2`)
  if (chart.name !== folderName) {
    problems.push(`name is ${JSON.stringify(chart.name)}: set name: ${folderName} (the folder's name)`)
  }
  if (typeof chart.version !== 'string' || !EXACT_SEMVER.test(chart.version)) {
    problems.push(`version ${JSON.stringify(chart.version)} is not a semver version: set version: 0.1.0`)
  }
  if (chart.type !== undefined && chart.type !== 'application') {
    problems.push(`type is ${JSON.stringify(chart.type)}: a component is an application chart`)
  }
  const deps = chart.dependencies ?? []
  if (!Array.isArray(deps)) return [...problems, 'dependencies is not a list']
  deps.forEach((dep: { name?: unknown; version?: unknown; repository?: unknown }, i) => {
    const label = `dependencies[${i}]${typeof dep?.name === 'string' ? ` (${dep.name})` : ''}`
    if (typeof dep?.name !== 'string' || dep.name === '') problems.push(`${label}: has no name`)
    if (typeof dep?.version !== 'string' || !EXACT_SEMVER.test(dep.version)) {
      problems.push(
        `${label}: version ${JSON.stringify(dep?.version)} is not pinned: use an exact version like 1.2.3 (no ranges, x, ^, ~, <, >)`,
      )
    }
    if (typeof dep?.repository !== 'string' || !REPOSITORY.test(dep.repository)) {
      problems.push(
        `${label}: repository ${JSON.stringify(dep?.repository)} is not an https://, oci:// or file:// URL: set the chart's repository`,
      )
    }
  })
  return problems
}

/** An upstream dependency a component was rendered without (no verified archive in the cache). */
export interface NotRendered {
  readonly folder: GeneratedFolder
  readonly dependency: ChartDependency
}

export interface ValidateOptions {
  /** Where verified upstream archives are kept. @default `<repoRoot>/.cache/charts` */
  readonly chartCache?: string
  /** Download each pinned upstream archive first (homelab validate --fetch). */
  readonly fetch?: boolean
  /** Injected for tests; defaults to the global fetch. */
  readonly fetchImpl?: typeof fetch
  /** The Helm binary. @default ensureHelm() */
  readonly helm?: string
}

/**
 * Validates every component folder of the repo (or of `folders`) with these settings: each chart
 * rendered by real Helm, with its upstream dependency when a verified archive is cached (or
 * fetched, with `fetch`), without it otherwise (listed in `notRendered`).
 * Returns the problems and, for components that render, their manifests.
 */
export async function validateComponents(
  repoRoot: string,
  settings: ClusterSettings,
  folders?: readonly GeneratedFolder[],
  options: ValidateOptions = {},
): Promise<{ problems: ComponentProblem[]; components: RenderedComponent[]; notRendered: NotRendered[] }> {
  const list = folders ?? (await generatedFolders(repoRoot))
  const problems: ComponentProblem[] = []
  const components: RenderedComponent[] = []
  const notRendered: NotRendered[] = []
  const namespaces = new Map<string, string>()
  const helm = options.helm ?? (await ensureHelm())
  for (const folder of list) {
    const other = namespaces.get(folder.name)
    if (other !== undefined) {
      problems.push({
        file: folder.path,
        message: `namespace "${folder.name}" is also ${other}'s: folder names are namespaces and must be unique across layers`,
      })
    } else namespaces.set(folder.name, folder.path)
    if (folder.source !== 'chart') {
      problems.push({
        file: folder.path,
        message: `holds no Chart.yaml, yet the ${folder.layer} ApplicationSet makes an Application of it: make it a wrapper chart (homelab new-service) or move it out of ${folder.layer}/`,
      })
      continue
    }
    const rendered = await _renderComponent(repoRoot, folder, settings, { ...options, helm }, problems)
    if (rendered === undefined) continue
    const routes = routeReport(rendered.manifests, {
      namespace: folder.name,
      domain: settings.domain,
      whole: rendered.notRendered.length === 0,
    })
    components.push({ folder, manifests: rendered.manifests, backends: routes.backends })
    for (const dependency of rendered.notRendered) notRendered.push({ folder, dependency })
    for (const { template, message } of routes.problems)
      problems.push({ file: `${folder.path}/${template}`, message })
    for (const { template, manifest } of rendered.manifests) {
      const file = `${folder.path}/${template}`
      const what = `${String(manifest.kind)} "${String((manifest.metadata as { name?: unknown } | undefined)?.name)}"`
      const upstream = template.startsWith('charts/')
      for (const message of await schemaProblems(manifest)) {
        // An upstream chart's own custom resources have no schema here: its CRDs define them.
        if (upstream && message.startsWith('no schema is known')) continue
        problems.push({ file, message: `${what}: ${message}` })
      }
      for (const message of imageProblems(manifest)) problems.push({ file, message })
    }
  }
  return { problems, components, notRendered }
}

/** Checks Chart.yaml and values.yaml, then renders with real Helm; undefined (problems pushed) when it cannot. */
async function _renderComponent(
  repoRoot: string,
  folder: GeneratedFolder,
  settings: ClusterSettings,
  options: ValidateOptions & { helm: string },
  problems: ComponentProblem[],
): Promise<HelmRender | undefined> {
  const chartFile = `${folder.path}/Chart.yaml`
  const chart = chartProblems(await readFile(join(repoRoot, chartFile), 'utf8'), folder.name)
  for (const message of chart) problems.push({ file: chartFile, message })
  try {
    parseYaml(await readFile(join(repoRoot, folder.path, 'values.yaml'), 'utf8'))
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      problems.push({
        file: `${folder.path}/values.yaml`,
        message: `is not YAML: ${(cause as Error).message.split('\n')[0]}`,
      })
      return undefined
    }
  }
  if (chart.length > 0) return undefined
  const cacheDir = options.chartCache ?? join(repoRoot, CHART_CACHE)
  const archive = async (dependency: ChartDependency): Promise<string | undefined> => {
    try {
      // No index.yaml to check a digest against: an oci:// chart (Envoy Gateway's) is never fetched
      // and, without a verified archive in the cache, reported as not rendered.
      if (options.fetch === true && !dependency.repository.startsWith('oci://')) {
        return await fetchChart(dependency, {
          cacheDir,
          ...(options.fetchImpl === undefined ? {} : { fetch: options.fetchImpl }),
        })
      }
      const cached = await cachedChart(cacheDir, dependency)
      if (cached.state === 'mismatch') problems.push({ file: chartFile, message: cached.message })
      return cached.state === 'verified' ? cached.path : undefined
    } catch (cause) {
      if (!(cause instanceof ChartFetchError)) throw cause
      problems.push({ file: chartFile, message: cause.message })
      return undefined
    }
  }
  try {
    return await helmTemplate(
      join(repoRoot, folder.path),
      { global: { homelab: settings } },
      { helm: options.helm, archive },
    )
  } catch (cause) {
    if (!(cause instanceof HelmRenderError)) throw cause
    const file = relative(repoRoot, resolve(cause.file))
    problems.push({ file: cause.line > 0 ? `${file}:${cause.line}` : file, message: cause.detail })
    return undefined
  }
}
