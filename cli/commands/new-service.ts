/**
 * `homelab new-service NAME --layer apps --chart REPO/CHART@VERSION`: scaffolds a component
 * (docs/gitops.md, "Components"): a wrapper chart pinning the upstream chart, using homelab-lib
 * for its HTTPRoute at NAME.<domain> on the shared Gateway. The folder it writes passes `homelab validate`.
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { APP_LAYERS } from '../../bootstrap/root/discover.ts'
import { EXACT_SEMVER } from '../../bootstrap/validate/components.ts'
import { type CommandRun, UsageError } from '../command.ts'

/** The layers a service may go to (bootstrap/ is ours). */
export const SERVICE_LAYERS = ['system', 'platform', 'apps'] as const

export interface ServiceSpec {
  readonly name: string
  readonly layer: string
  /** REPO/CHART@VERSION */
  readonly chart: string
}

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/

/** Splits REPO/CHART@VERSION; throws UsageError with the fix when it is not one. */
export function parseChartRef(ref: string): { repository: string; chart: string; version: string } {
  const at = ref.lastIndexOf('@')
  const slash = ref.lastIndexOf('/', at === -1 ? undefined : at)
  const repository = ref.slice(0, slash)
  const chart = ref.slice(slash + 1, at)
  const version = ref.slice(at + 1)
  if (
    at === -1 ||
    slash === -1 ||
    !/^(https|oci):\/\/[^/\s]+/.test(repository) ||
    !/^[a-z0-9][-a-z0-9_.]*$/.test(chart)
  ) {
    throw new UsageError(
      `Cannot read --chart "${ref}": expected REPO/CHART@VERSION with an https:// or oci:// REPO, e.g. https://charts.example.com/web@1.2.3`,
    )
  }
  if (!EXACT_SEMVER.test(version)) {
    throw new UsageError(
      `Cannot use chart version "${version}": it is not an exact version: pin one like 1.2.3 (no ranges, x, ^, ~, <, >)`,
    )
  }
  return { repository, chart, version }
}

/** Writes <layer>/<name>/{Chart.yaml,values.yaml,templates/routes.yaml}; returns the folder (relative). */
export async function scaffoldService(repoRoot: string, spec: ServiceSpec): Promise<string> {
  if (!DNS_LABEL.test(spec.name)) {
    throw new UsageError(
      `Cannot use the name "${spec.name}": it becomes a namespace and a host name: use lower-case letters, digits and "-" (63 at most, starting with a letter)`,
    )
  }
  if (!(SERVICE_LAYERS as readonly string[]).includes(spec.layer)) {
    throw new UsageError(`Cannot use --layer "${spec.layer}": expected one of ${SERVICE_LAYERS.join(', ')}`)
  }
  const { repository, chart, version } = parseChartRef(spec.chart)
  const folder = `${spec.layer}/${spec.name}`
  for (const layer of APP_LAYERS) {
    if (existsSync(join(repoRoot, layer, spec.name))) {
      throw new Error(
        `Cannot create ${folder}: ${layer}/${spec.name} exists (folder names are namespaces, unique across layers): pick another name or edit that folder`,
      )
    }
  }
  const dir = join(repoRoot, folder)
  await mkdir(join(dir, 'templates'), { recursive: true })
  await writeFile(
    join(dir, 'Chart.yaml'),
    `apiVersion: v2
name: ${spec.name}
version: 0.1.0
description: ${spec.name}, from the ${chart} chart ${version}
dependencies:
  - name: ${chart}
    version: ${version}
    repository: ${repository}
  - name: homelab-lib
    version: 0.1.0
    repository: file://../../bootstrap/lib
`,
  )
  await writeFile(
    join(dir, 'values.yaml'),
    `# Upstream values of ${chart} ${version} go under its name. Disable its own ingress: the route
# comes from \`routes\` below (bootstrap/lib). Put persistence on longhorn.
${chart}:
  ingress:
    enabled: false

# Served as https://${spec.name}.<global.homelab.domain> by the shared Gateway (homelab.routes in
# bootstrap/lib). Check the upstream chart's Service name and port: homelab validate checks them
# once the chart is rendered (homelab validate --fetch).
routes:
  - name: ${spec.name}
    host: ${spec.name}
    service: ${spec.name}
    port: 80
`,
  )
  await writeFile(join(dir, 'templates/routes.yaml'), '{{ include "homelab.routes" . }}\n')
  return folder
}

export const newService: CommandRun = async (context) => {
  const [name, ...rest] = context.positionals
  if (name === undefined || rest.length > 0)
    throw new UsageError('expected one NAME: homelab new-service NAME --chart REPO/CHART@VERSION')
  const chart = context.values.chart
  if (typeof chart !== 'string') throw new UsageError('--chart REPO/CHART@VERSION is required')
  const layer = typeof context.values.layer === 'string' ? context.values.layer : 'apps'
  const folder = await scaffoldService(context.repoRoot, { name, layer, chart })
  context.output.text(`Created ${folder}/ (Chart.yaml, values.yaml, templates/routes.yaml).`)
  context.output.text(
    `Check its values, then run homelab validate and commit: ArgoCD deploys it into namespace ${name}.`,
  )
  return true
}
