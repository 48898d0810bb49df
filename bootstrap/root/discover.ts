/**
 * The root app's generators, evaluated offline: bootstrap/root renders one ApplicationSet per
 * layer whose git directory generator matches `<layer>/*` less the layer's `exclude` paths
 * (bootstrap/root/values.yaml), and creates one Application per folder, namespace = folder name.
 * `homelab plan` and `homelab validate` read the folders through these functions, so they show
 * exactly what ArgoCD creates.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'

/** Layers in the order they converge (their ApplicationSets' sync waves). */
export const APP_LAYERS = ['bootstrap', 'system', 'platform', 'apps'] as const
export type AppLayer = (typeof APP_LAYERS)[number]

export interface DiscoveredApp {
  readonly layer: AppLayer
  readonly name: string
  readonly namespace: string
  /** The folder, relative to the repo root. */
  readonly path: string
  readonly source: 'chart' | 'kustomize' | 'manifests'
}

/** A folder the layer's generator matches, component or not. */
export interface GeneratedFolder {
  readonly layer: AppLayer
  readonly name: string
  readonly path: string
  readonly source: DiscoveredApp['source'] | undefined
}

const SOURCE_FILES: ReadonlyArray<[string, DiscoveredApp['source']]> = [
  ['Chart.yaml', 'chart'],
  ['kustomization.yaml', 'kustomize'],
]

/** The `exclude` paths of each layer's generator, from bootstrap/root/values.yaml (none when absent). */
export async function generatorExcludes(repoRoot: string): Promise<Map<string, readonly string[]>> {
  const out = new Map<string, readonly string[]>()
  let text: string
  try {
    text = await readFile(join(repoRoot, 'bootstrap/root/values.yaml'), 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return out
    throw cause
  }
  const values = (parseYaml(text) ?? {}) as { layers?: { name?: unknown; exclude?: unknown }[] }
  for (const layer of values.layers ?? []) {
    if (typeof layer.name === 'string' && Array.isArray(layer.exclude)) {
      out.set(
        layer.name,
        layer.exclude.filter((e): e is string => typeof e === 'string'),
      )
    }
  }
  return out
}

/** Every folder the generators match (`<layer>/*` less excludes; hidden folders skipped), sorted, layer by layer. */
export async function generatedFolders(repoRoot: string): Promise<GeneratedFolder[]> {
  const excludes = await generatorExcludes(repoRoot)
  const folders: GeneratedFolder[] = []
  for (const layer of APP_LAYERS) {
    let entries: string[]
    try {
      entries = (await readdir(join(repoRoot, layer))).sort()
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new Error(`Cannot list layer folder: ${join(repoRoot, layer)}`, { cause })
    }
    for (const name of entries) {
      const path = `${layer}/${name}`
      const dir = join(repoRoot, path)
      if (name.startsWith('.') || excludes.get(layer)?.includes(path) || !(await stat(dir)).isDirectory())
        continue
      const files = await readdir(dir)
      const source =
        SOURCE_FILES.find(([file]) => files.includes(file))?.[1] ??
        (files.some((f) => f.endsWith('.yaml') || f.endsWith('.yml')) ? 'manifests' : undefined)
      folders.push({ layer, name, path, source })
    }
  }
  return folders
}

/** The component folders (holding Chart.yaml, kustomization.yaml or *.yaml manifests) the generators match. */
export async function discoverApps(repoRoot: string): Promise<DiscoveredApp[]> {
  const apps: DiscoveredApp[] = []
  for (const { layer, name, path, source } of await generatedFolders(repoRoot)) {
    if (source !== undefined) apps.push({ layer, name, namespace: name, path, source })
  }
  return apps
}
