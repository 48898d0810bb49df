/**
 * The first sync's units read from the repo: the root app's own CRDs, one unit per CRD chart
 * (bootstrap/root/Chart.yaml and values.yaml), then one unit per generated Application in its layer's wave, with the upstream
 * chart's CRDs and custom resources from bootstrap/root/first-sync.yaml and our own templates'
 * custom resources rendered here. When the caller has the verified archives of a component's
 * upstream charts (`archive`, e.g. the cache of `homelab validate --fetch`), the component is
 * rendered whole and its first-sync.yaml entry is checked against that render.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { type HelmRenderOptions, helmTemplate, type RenderedManifest } from '../render/helm.ts'
import type { ClusterSettings } from '../settings.ts'
import { generateApplications, ROOT_CHART, renderRoot } from './applications.ts'
import { customKind, parseWave, type RenderedKind, SYNC_WAVE, type SyncUnit } from './first-sync.ts'

export const FIRST_SYNC_FILE = 'bootstrap/root/first-sync.yaml'

export interface FirstSyncInventory {
  readonly preinstalled: readonly string[]
  /** The root chart's CRD dependencies, each with the CRDs it installs. */
  readonly root: readonly { readonly chart: string; readonly provides: readonly string[] }[]
  readonly components: Readonly<Record<string, { readonly provides: string[]; readonly renders: string[] }>>
}

const KIND = /^[a-z0-9.-]+\.[a-z]+\/[A-Z][A-Za-z0-9]*$/

function kinds(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string' || !KIND.test(k))) {
    throw new Error(
      `Cannot read ${FIRST_SYNC_FILE}: ${field} is not a list of group/Kind (e.g. monitoring.coreos.com/ServiceMonitor)`,
    )
  }
  return value as string[]
}

/** Parses first-sync.yaml; a malformed field is an error naming the file and the field. */
export function parseInventory(text: string): FirstSyncInventory {
  const doc = (parseYaml(text) ?? {}) as Record<string, unknown>
  if (!Array.isArray(doc.root) || doc.root.length === 0) {
    throw new Error(
      `Cannot read ${FIRST_SYNC_FILE}: root is not a list of { chart, provides }: name each CRD dependency of the root chart`,
    )
  }
  const root = (doc.root as unknown[]).map((item, i) => {
    const entry = (item ?? {}) as Record<string, unknown>
    if (typeof entry.chart !== 'string') {
      throw new Error(
        `Cannot read ${FIRST_SYNC_FILE}: root[${i}].chart is not a chart name: name the root chart's CRD dependency`,
      )
    }
    return { chart: entry.chart, provides: kinds(entry.provides, `root[${i}].provides`) }
  })
  const components: Record<string, { provides: string[]; renders: string[] }> = {}
  for (const [path, entry] of Object.entries((doc.components ?? {}) as Record<string, unknown>)) {
    const e = (entry ?? {}) as Record<string, unknown>
    components[path] = {
      provides: kinds(e.provides, `components["${path}"].provides`),
      renders: kinds(e.renders, `components["${path}"].renders`),
    }
  }
  return {
    preinstalled: kinds(doc.preinstalled, 'preinstalled'),
    root,
    components,
  }
}

// biome-ignore lint/suspicious/noExplicitAny: manifests and values are read field by field
type Doc = Record<string, any>

/**
 * The root app's CRD units, one per CRD chart: each must be a dependency in Chart.yaml; its wave is
 * the `crds.annotations` sync wave values.yaml gives the chart, or 0 (ArgoCD's default) without one.
 */
async function rootUnits(
  repoRoot: string,
  inventory: FirstSyncInventory,
  problems: string[],
): Promise<SyncUnit[]> {
  const chart = parseYaml(await readFile(join(repoRoot, ROOT_CHART, 'Chart.yaml'), 'utf8')) as Doc
  const values = parseYaml(await readFile(join(repoRoot, ROOT_CHART, 'values.yaml'), 'utf8')) as Doc
  return inventory.root.map((root) => {
    if (!(chart.dependencies ?? []).some((d: Doc) => d?.name === root.chart)) {
      problems.push(
        `${ROOT_CHART}/Chart.yaml: no dependency "${root.chart}", which ${FIRST_SYNC_FILE} says installs the root app's CRDs: add it`,
      )
    }
    const wave = parseWave(values?.[root.chart]?.crds?.annotations?.[SYNC_WAVE])
    if (wave === undefined) {
      problems.push(
        `${ROOT_CHART}/values.yaml: ${root.chart}.crds.annotations["${SYNC_WAVE}"] is not an integer`,
      )
    }
    return { name: `${ROOT_CHART} (${root.chart})`, wave: wave ?? 0, provides: root.provides, renders: [] }
  })
}

/** What a render holds: CRDs (`group/Kind`), and custom resources of our templates and of upstream charts. */
interface RenderedKinds {
  readonly crds: string[]
  readonly own: RenderedKind[]
  readonly upstream: string[]
}

function crdKind(manifest: Doc): string | undefined {
  const group = manifest.spec?.group
  const kind = manifest.spec?.names?.kind
  return typeof group === 'string' && typeof kind === 'string' ? `${group}/${kind}` : undefined
}

/** Sorts a render's manifests: ours come from `templates/`, upstream ones from `charts/<dependency>/`. */
export function renderedKinds(manifests: readonly RenderedManifest[]): RenderedKinds {
  const crds = new Set<string>()
  const upstream = new Set<string>()
  const own: RenderedKind[] = []
  for (const { manifest, template } of manifests) {
    const doc = manifest as Doc
    if (doc.kind === 'CustomResourceDefinition') {
      const kind = crdKind(doc)
      if (kind !== undefined) crds.add(kind)
      continue
    }
    const kind = customKind(doc)
    if (kind === undefined) continue
    if (!template.startsWith('templates/')) {
      upstream.add(kind)
      continue
    }
    const wave = parseWave(doc.metadata?.annotations?.[SYNC_WAVE])
    own.push({ kind, template, ...(wave === undefined ? {} : { wave }) })
  }
  return { crds: [...crds].sort(), own, upstream: [...upstream].sort() }
}

const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((k, i) => k === [...b].sort()[i])

/** first-sync.yaml's entry against the whole render, one problem per field that disagrees. */
function entryProblems(
  path: string,
  entry: { provides: readonly string[]; renders: readonly string[] },
  kinds: RenderedKinds,
): string[] {
  const problems: string[] = []
  // The root chart's CRDs are recorded once, under root[].provides (they have their own waves).
  const providesField = path === ROOT_CHART ? 'root[].provides' : `components["${path}"].provides`
  for (const [field, recorded, rendered] of [
    [providesField, entry.provides, kinds.crds],
    [`components["${path}"].renders`, entry.renders, kinds.upstream],
  ] as const) {
    if (!same(recorded, rendered)) {
      problems.push(
        `${FIRST_SYNC_FILE}: ${field} is [${recorded.join(', ')}] but the pinned upstream chart renders [${rendered.join(', ')}]: update the entry`,
      )
    }
  }
  return problems
}

export interface FirstSyncOptions {
  /** The verified archive of an upstream dependency, if the caller has one (helmTemplate's `archive`). */
  readonly archive?: HelmRenderOptions['archive']
}

export interface FirstSyncPlan {
  readonly units: SyncUnit[]
  readonly preinstalled: readonly string[]
  /** Problems reading the repo: entries missing from or stale in first-sync.yaml, a bad root wave. */
  readonly problems: string[]
}

/** The units of the first sync for the repo as it is, with the problems met while reading it. */
export async function firstSyncUnits(
  repoRoot: string,
  settings: ClusterSettings,
  options: FirstSyncOptions = {},
): Promise<FirstSyncPlan> {
  const inventory = parseInventory(await readFile(join(repoRoot, FIRST_SYNC_FILE), 'utf8'))
  const problems: string[] = []
  const units: SyncUnit[] = await rootUnits(repoRoot, inventory, problems)
  const rootProvides = inventory.root.flatMap((r) => r.provides)
  const layerWaves = new Map<string, number>()
  for (const { manifest } of await renderRoot(repoRoot, settings)) {
    const set = manifest as Doc
    if (set.kind === 'ApplicationSet')
      layerWaves.set(set.metadata.name, parseWave(set.metadata.annotations?.[SYNC_WAVE]) ?? 0)
  }
  const apps = await generateApplications(repoRoot, settings)
  for (const app of apps) {
    const entry = inventory.components[app.path]
    if (entry === undefined) {
      problems.push(
        `${FIRST_SYNC_FILE}: no entry for "${app.path}": add the CRDs its upstream chart installs (provides) and the custom resources it renders (renders)`,
      )
    }
    const render = await helmTemplate(join(repoRoot, app.path), { global: { homelab: settings } }, options)
    const kinds = renderedKinds(render.manifests)
    // Whole (every upstream chart rendered): the render is the truth, and the entry must say the same.
    const whole = render.notRendered.length === 0
    const isRoot = app.path === ROOT_CHART
    const recorded = isRoot && entry !== undefined ? { ...entry, provides: rootProvides } : entry
    if (whole && recorded !== undefined) problems.push(...entryProblems(app.path, recorded, kinds))
    units.push({
      name: app.path,
      wave: layerWaves.get(app.layer) ?? 0,
      // The root chart's own CRDs are the first unit's, in their own wave.
      provides: isRoot ? [] : whole ? kinds.crds : [...(entry?.provides ?? []), ...kinds.crds],
      renders: [...(whole ? kinds.upstream : (entry?.renders ?? [])).map((kind) => ({ kind })), ...kinds.own],
    })
  }
  for (const path of Object.keys(inventory.components)) {
    if (!apps.some((a) => a.path === path)) {
      problems.push(`${FIRST_SYNC_FILE}: "${path}" is not a generated Application: remove its entry`)
    }
  }
  return { units, preinstalled: inventory.preinstalled, problems }
}
