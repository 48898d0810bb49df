/**
 * The root app's folder discovery: one ArgoCD Application per component folder
 * under system/, platform/ and apps/. Namespace = folder name. Evaluated offline
 * here so `homelab plan` shows exactly what ArgoCD would create.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

/** Layers in the order they must converge: system before platform before apps. */
export const APP_LAYERS = ['system', 'platform', 'apps'] as const
export type AppLayer = (typeof APP_LAYERS)[number]

export interface DiscoveredApp {
  readonly layer: AppLayer
  readonly name: string
  readonly namespace: string
  /** The folder, relative to the repo root. */
  readonly path: string
  readonly source: 'chart' | 'kustomize' | 'manifests'
}

const SOURCE_FILES: ReadonlyArray<[string, DiscoveredApp['source']]> = [
  ['Chart.yaml', 'chart'],
  ['kustomization.yaml', 'kustomize'],
]

/** Lists component folders (a folder holding Chart.yaml, kustomization.yaml or *.yaml manifests), sorted. */
export async function discoverApps(repoRoot: string): Promise<DiscoveredApp[]> {
  const apps: DiscoveredApp[] = []
  for (const layer of APP_LAYERS) {
    let entries: string[]
    try {
      entries = (await readdir(join(repoRoot, layer))).sort()
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new Error(`Cannot list layer folder: ${join(repoRoot, layer)}`, { cause })
    }
    for (const name of entries) {
      const dir = join(repoRoot, layer, name)
      if (name.startsWith('.') || !(await stat(dir)).isDirectory()) continue
      const files = await readdir(dir)
      const source =
        SOURCE_FILES.find(([file]) => files.includes(file))?.[1] ??
        (files.some((f) => f.endsWith('.yaml') || f.endsWith('.yml')) ? 'manifests' : undefined)
      if (source === undefined) continue
      apps.push({ layer, name, namespace: name, path: `${layer}/${name}`, source })
    }
  }
  return apps
}
