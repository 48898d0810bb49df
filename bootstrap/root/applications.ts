/**
 * The root chart rendered offline by real Helm (bootstrap/render/helm.ts), and its ApplicationSets
 * evaluated on the repo's folders: exactly the Applications ArgoCD creates. `root` is one of
 * them: `homelab bootstrap` creates the same Application, so ArgoCD's self-management is a
 * no-op diff.
 */
import { join } from 'node:path'
import { type RenderedManifest, renderChart } from '../render/helm.ts'
import type { ClusterSettings } from '../settings.ts'
import { generatedFolders } from './discover.ts'

export const ROOT_CHART = 'bootstrap/root'

/** The root chart's manifests (one ApplicationSet per layer) for these settings. */
export function renderRoot(repoRoot: string, settings: ClusterSettings): Promise<RenderedManifest[]> {
  return renderChart(join(repoRoot, ROOT_CHART), { global: { homelab: settings } })
}

// The only placeholders our ApplicationSet templates use (goTemplate, git directory generator).
const PLACEHOLDER = /\{\{ *\.path\.(basename|path) *\}\}/g

function substitute(value: unknown, path: string, basename: string): unknown {
  if (typeof value === 'string') {
    const out = value.replace(PLACEHOLDER, (_, key: string) => (key === 'path' ? path : basename))
    if (out.includes('{{')) {
      throw new Error(
        `Cannot evaluate the ApplicationSet template: "${value}" uses a placeholder other than .path.path and .path.basename`,
      )
    }
    return out
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, path, basename))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, path, basename)]))
  }
  return value
}

export interface GeneratedApplication {
  readonly layer: string
  readonly path: string
  readonly application: Record<string, unknown>
}

/**
 * Every Application the root chart's ApplicationSets generate from the repo's folders, layer by
 * layer: each ApplicationSet's `spec.template` with `.path.path` and `.path.basename` filled in.
 */
export async function generateApplications(
  repoRoot: string,
  settings: ClusterSettings,
): Promise<GeneratedApplication[]> {
  const sets = (await renderRoot(repoRoot, settings)).map((m) => m.manifest)
  const folders = await generatedFolders(repoRoot)
  const out: GeneratedApplication[] = []
  for (const set of sets) {
    const name = (set.metadata as { name: string }).name
    const template = (set.spec as { template: Record<string, unknown> }).template
    for (const folder of folders.filter((f) => f.layer === name)) {
      const application = substitute(template, folder.path, folder.name) as Record<string, unknown>
      out.push({
        layer: name,
        path: folder.path,
        application: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', ...application },
      })
    }
  }
  return out
}
