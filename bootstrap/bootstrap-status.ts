/**
 * `homelab status`: what the cluster reports, read through the Kubernetes API: the nodes, each
 * ArgoCD Application's sync and health, and the URLs of the ingresses.
 */
import { KubeApiError, type KubeClient, type KubeObject, listNodes } from '../lib/kube/index.ts'

export interface ClusterStatus {
  readonly nodes: readonly { name: string; ready: boolean; roles: readonly string[]; detail: string }[]
  /** Undefined when ArgoCD is not installed (no Application kind). */
  readonly applications:
    | readonly { name: string; namespace: string; sync: string; health: string }[]
    | undefined
  readonly urls: readonly string[]
}

export async function clusterStatus(api: KubeClient): Promise<ClusterStatus> {
  const nodes = (await listNodes(api)).map((n) => ({
    name: n.name,
    ready: n.ready,
    roles: n.roles,
    detail: n.ready ? 'Ready' : `NotReady${n.readyReason ? `: ${n.readyReason}` : ''}`,
  }))
  let applications: ClusterStatus['applications']
  try {
    const list = await api.list<KubeObject>('/apis/argoproj.io/v1alpha1/applications')
    applications = list.items
      .map((a) => {
        const s = (a.status ?? {}) as { sync?: { status?: string }; health?: { status?: string } }
        return {
          name: a.metadata.name,
          namespace: a.metadata.namespace ?? '',
          sync: s.sync?.status ?? 'Unknown',
          health: s.health?.status ?? 'Unknown',
        }
      })
      .sort((a, b) => a.name.localeCompare(b.name))
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 404)) throw error
  }
  const ingresses = await api.list<KubeObject>('/apis/networking.k8s.io/v1/ingresses')
  const hosts = new Set<string>()
  for (const ing of ingresses.items) {
    for (const rule of (ing.spec as { rules?: { host?: string }[] } | undefined)?.rules ?? []) {
      if (rule.host) hosts.add(`https://${rule.host}`)
    }
  }
  return { nodes, applications, urls: [...hosts].sort() }
}
