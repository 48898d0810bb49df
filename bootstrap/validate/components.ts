/**
 * Checks every component folder the root app's generators match (docs/gitops.md, "Components"):
 * Chart.yaml (apiVersion v2, name = folder, semver version, dependencies pinned exactly to an
 * https://, oci:// or file:// repository), values.yaml, templates within the Helm subset that
 * render with the settings from homelab.yaml, every rendered manifest against its schema, every
 * Ingress on the configured domain with a TLS issuer, and namespaces unique across layers.
 */
import { readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { HelmSubsetError, type RenderedManifest, renderChart } from '../render/helm-subset.ts'
import { type GeneratedFolder, generatedFolders } from '../root/discover.ts'
import type { ClusterSettings } from '../settings.ts'
import { schemaProblems } from './schemas.ts'

/** One problem, with the file it is in (relative to the repo root). */
export interface ComponentProblem {
  readonly file: string
  readonly message: string
}

/** A component and the manifests its own templates render. */
export interface RenderedComponent {
  readonly folder: GeneratedFolder
  readonly manifests: readonly RenderedManifest[]
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

/** The Ingress rules of docs/gitops.md: hosts under the domain, TLS for each, the issuer annotation. */
export function ingressProblems(manifest: Record<string, unknown>, settings: ClusterSettings): string[] {
  if (manifest.kind !== 'Ingress') return []
  const problems: string[] = []
  const name = (manifest.metadata as { name?: string } | undefined)?.name ?? '?'
  const annotations = (manifest.metadata as { annotations?: Record<string, unknown> } | undefined)
    ?.annotations
  const issuer = annotations?.['cert-manager.io/cluster-issuer']
  if (issuer !== settings.clusterIssuer) {
    problems.push(
      `Ingress "${name}": annotation cert-manager.io/cluster-issuer is ${JSON.stringify(issuer)}, not "${settings.clusterIssuer}": use the homelab.ingresses helper (global.homelab.clusterIssuer)`,
    )
  }
  const spec = (manifest.spec ?? {}) as { rules?: { host?: unknown }[]; tls?: { hosts?: unknown[] }[] }
  const ruleHosts = (spec.rules ?? []).map((r) => r.host)
  const tlsHosts = (spec.tls ?? []).flatMap((t) => t.hosts ?? [])
  const inDomain = (h: unknown) => typeof h === 'string' && h.endsWith(`.${settings.domain}`)
  for (const host of [...ruleHosts, ...tlsHosts]) {
    if (!inDomain(host)) {
      problems.push(
        `Ingress "${name}": host ${JSON.stringify(host)} is not under the domain "${settings.domain}": use the homelab.ingresses helper (<host>.<global.homelab.domain>)`,
      )
    }
  }
  if (ruleHosts.length === 0) problems.push(`Ingress "${name}": has no host rule`)
  for (const host of ruleHosts) {
    if (!tlsHosts.includes(host))
      problems.push(`Ingress "${name}": host ${JSON.stringify(host)} has no TLS entry`)
  }
  return problems
}

/**
 * Validates every component folder of the repo (or of `folders`) with these settings.
 * Returns the problems and, for components that render, their manifests.
 */
export async function validateComponents(
  repoRoot: string,
  settings: ClusterSettings,
  folders?: readonly GeneratedFolder[],
): Promise<{ problems: ComponentProblem[]; components: RenderedComponent[] }> {
  const list = folders ?? (await generatedFolders(repoRoot))
  const problems: ComponentProblem[] = []
  const components: RenderedComponent[] = []
  const namespaces = new Map<string, string>()
  for (const folder of list) {
    const chartFile = `${folder.path}/Chart.yaml`
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
    const chartText = await readFile(join(repoRoot, chartFile), 'utf8')
    const chart = chartProblems(chartText, folder.name)
    for (const message of chart) problems.push({ file: chartFile, message })
    try {
      parseYaml(await readFile(join(repoRoot, folder.path, 'values.yaml'), 'utf8'))
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push({
          file: `${folder.path}/values.yaml`,
          message: `is not YAML: ${(cause as Error).message.split('\n')[0]}`,
        })
        continue
      }
    }
    if (chart.length > 0) continue
    let manifests: RenderedManifest[]
    try {
      manifests = await renderChart(join(repoRoot, folder.path), { global: { homelab: settings } })
    } catch (cause) {
      if (!(cause instanceof HelmSubsetError)) throw cause
      problems.push({
        file: `${relative(repoRoot, resolve(cause.file))}:${cause.line}`,
        message: cause.detail,
      })
      continue
    }
    components.push({ folder, manifests })
    for (const { template, manifest } of manifests) {
      const file = `${folder.path}/${template}`
      const what = `${String(manifest.kind)} "${String((manifest.metadata as { name?: unknown } | undefined)?.name)}"`
      for (const message of await schemaProblems(manifest))
        problems.push({ file, message: `${what}: ${message}` })
      for (const message of ingressProblems(manifest, settings)) problems.push({ file, message })
    }
  }
  return { problems, components }
}
