/**
 * The very first sync of an empty cluster, as far as CRDs go: every custom resource must find its
 * CRD already applied, without leaning on sync retries.
 *
 * ArgoCD gives two orderings that hold on a first sync:
 *  - across the root app's sync waves: ArgoCD applies a wave only once the earlier waves' resources
 *    are healthy, and a CRD is healthy once Established (argo-cd v3.5.1
 *    docs/user-guide/sync-waves.md; resource_customizations/apiextensions.k8s.io/CustomResourceDefinition).
 *    The root app's own CRDs (wave -1) come before every layer's ApplicationSet (waves 0-3), hence
 *    before every Application. Applications of two layers, however, are not ordered by those waves:
 *    an Application starts syncing as soon as its ApplicationSet exists.
 *  - inside one Application: CRDs before custom resources, with the dry run skipped for a custom
 *    resource whose CRD is in the same sync (docs/user-guide/sync-options.md, "Skip Dry Run for new
 *    custom resources types"; docs/user-guide/sync-waves.md, ordering "by kind").
 *
 * `firstSyncProblems()` is the rule, pure; `firstSyncUnits()` builds its input from the repo.
 */

/** ArgoCD's sync wave annotation; resources without it are in wave 0. */
export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave'

/** A custom resource an Application applies. */
export interface RenderedKind {
  /** `group/Kind`, e.g. `monitoring.coreos.com/ServiceMonitor`. */
  readonly kind: string
  /** Our template that renders it, or undefined for the upstream chart. */
  readonly template?: string
  /** Its wave inside the Application (our templates only). */
  readonly wave?: number
}

/** What one step of the first sync applies: its wave in the root app's sync, CRDs and custom resources. */
export interface SyncUnit {
  readonly name: string
  readonly wave: number
  readonly provides: readonly string[]
  readonly renders: readonly RenderedKind[]
}

/** API groups served by Kubernetes itself (everything else needs a CRD, gateway.networking.k8s.io included). */
const BUILT_IN_GROUPS = new Set([
  '',
  'apps',
  'batch',
  'autoscaling',
  'policy',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'flowcontrol.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
])

/** `group/Kind` of a manifest when its kind is a custom resource, else undefined. */
export function customKind(manifest: { apiVersion?: unknown; kind?: unknown }): string | undefined {
  if (typeof manifest.apiVersion !== 'string' || typeof manifest.kind !== 'string') return undefined
  const slash = manifest.apiVersion.lastIndexOf('/')
  const group = slash < 0 ? '' : manifest.apiVersion.slice(0, slash)
  return BUILT_IN_GROUPS.has(group) ? undefined : `${group}/${manifest.kind}`
}

/** A sync-wave annotation's value as ArgoCD reads it (an integer; absent is 0), or undefined when invalid. */
export function parseWave(value: unknown): number | undefined {
  if (value === undefined) return 0
  if (typeof value !== 'string' || !/^-?\d+$/.test(value.trim())) return undefined
  return Number.parseInt(value, 10)
}

function providers(units: readonly SyncUnit[], kind: string): SyncUnit[] {
  return units.filter((u) => u.provides.includes(kind))
}

/**
 * Every custom resource whose CRD would not be there when it is applied, one message each:
 * a kind is fine when it is preinstalled, when a unit in a strictly earlier wave provides its CRD,
 * or when its own Application provides it (for our own templates, only from an in-app wave >= 1,
 * so ArgoCD first waits for the chart's controllers and admission webhooks to be healthy).
 */
export function firstSyncProblems(units: readonly SyncUnit[], preinstalled: readonly string[]): string[] {
  const problems: string[] = []
  for (const unit of units) {
    for (const r of unit.renders) {
      if (preinstalled.includes(r.kind)) continue
      const what = `${unit.name}${r.template === undefined ? '' : ` (${r.template})`}`
      if (unit.provides.includes(r.kind)) {
        if (r.template !== undefined && (r.wave ?? 0) < 1) {
          problems.push(
            `${what}: ${r.kind} is in wave ${r.wave ?? 0} of its Application, with the CRD and the chart's webhooks: annotate it ${SYNC_WAVE}: "1"`,
          )
        }
        continue
      }
      const from = providers(units, r.kind)
      if (from.some((p) => p.wave < unit.wave)) continue
      const where =
        from.length === 0
          ? 'nothing installs its CRD'
          : `its CRD comes from ${from.map((p) => `${p.name} (wave ${p.wave})`).join(', ')}, not from an earlier wave`
      problems.push(
        `${what}: ${r.kind} is applied in wave ${unit.wave} but ${where}: install the CRD in an earlier wave (the root app's wave -1, bootstrap/root) or in this Application`,
      )
    }
  }
  return problems
}
