/** How bootstrap's events look for people: two live rows (argocd, root) and a closing line. */
import type { BootstrapEvent } from '../../bootstrap/bootstrap.ts'
import type { ClusterStatus } from '../../bootstrap/bootstrap-status.ts'
import { formatTable } from '../../core/log/table.ts'
import { line, note, type Renderers, row } from './shown.ts'

/** The live rows of `homelab bootstrap`, and which steps belong to each. */
export const BOOTSTRAP_ROWS = ['argocd', 'root'] as const
const ROW: Record<string, (typeof BOOTSTRAP_ROWS)[number]> = {
  manifest: 'argocd',
  namespace: 'argocd',
  crds: 'argocd',
  established: 'argocd',
  install: 'argocd',
  available: 'argocd',
  source: 'root',
  root: 'root',
}

export const BOOTSTRAP: Renderers<BootstrapEvent> = {
  'bootstrap.step': (e) => [row(ROW[e.step] ?? 'argocd', e.step, e.detail)],
  'bootstrap.download': (e) => [row('argocd', 'manifest', e.detail)],
  'bootstrap.waiting': (e) => [
    row('argocd', e.step, `waiting for ${e.pending.map((p) => `${p.name} (${p.lastSeen})`).join(', ')}`),
  ],
  'bootstrap.object': (e) =>
    e.result !== 'unchanged' || e.step === 'root'
      ? [note(`${e.kind} ${e.namespace ? `${e.namespace}/` : ''}${e.name}: ${e.result}`)]
      : [],
  'bootstrap.source': (e) => [note(`root app source: ${e.source} ${e.repoURL} (${e.detail})`)],
  'bootstrap.summary': (e) => [
    {
      to: 'summary',
      lines: [
        `ArgoCD ${e.version}: ${e.created} created, ${e.changed} changed, ${e.unchanged} unchanged; ` +
          `root app ${e.root}, following ${e.repoURL}`,
      ],
    },
  ],
}

/** Events the CLI itself reports about the cluster: `status`, `kubeconfig`, `bootstrap --pin-argocd`. */
export type ClusterViewEvent =
  | ({ readonly type: 'status' } & ClusterStatus)
  | { readonly type: 'kubeconfig'; readonly path: string }
  | {
      readonly type: 'bootstrap.pinned'
      readonly version: string
      readonly url: string
      readonly file: string
      readonly sha256: string
      readonly bytes: number
      readonly path: string
      readonly changed: boolean
    }

function statusLines(s: ClusterStatus): string[] {
  const lines = ['nodes']
  const table = (header: string[], rows: string[][]) =>
    lines.push(...formatTable([header, ...rows]).map((l) => `  ${l}`))
  table(
    ['NAME', 'ROLES', 'STATUS'],
    s.nodes.map((n) => [n.name, n.roles.join(',') || '-', n.detail]),
  )
  lines.push('', 'applications')
  if (s.applications === undefined) lines.push('  ArgoCD is not installed (run `homelab bootstrap`)')
  else if (s.applications.length === 0) lines.push('  none yet')
  else
    table(
      ['NAME', 'SYNC', 'HEALTH'],
      s.applications.map((a) => [a.name, a.sync, a.health]),
    )
  lines.push('', 'urls')
  if (s.urls.length === 0) lines.push('  no route yet')
  for (const u of s.urls) lines.push(`  ${u}`)
  return lines
}

export const CLUSTER_VIEW: Renderers<ClusterViewEvent> = {
  status: (e) => statusLines(e).map(line),
  kubeconfig: (e) => [line(`export KUBECONFIG=${e.path}`)],
  'bootstrap.pinned': (e) => [
    line(`ArgoCD ${e.version}: ${e.url}`),
    line(`sha256 ${e.sha256} (${e.bytes} bytes, cached in ${e.path})`),
    line(
      e.changed
        ? `written to ${e.file}: review the change (git diff), then commit it`
        : `${e.file} already pins this digest`,
    ),
  ],
}
