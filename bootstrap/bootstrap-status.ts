/**
 * `homelab status`: what the cluster reports, read through the Kubernetes API: the nodes, each
 * ArgoCD Application's sync and health, and the URLs of the routes (every HTTPRoute hostname).
 */
import { KubeApiError, type KubeClient, type KubeObject, listNodes } from '../lib/kube/index.ts'

export interface ClusterStatus {
  readonly nodes: readonly { name: string; ready: boolean; roles: readonly string[]; detail: string }[]
  /** Undefined when ArgoCD is not installed (no Application kind). */
  readonly applications:
    | readonly { name: string; namespace: string; sync: string; health: string }[]
    | undefined
  /** `https://HOST` for each hostname of each HTTPRoute (wildcards left out), sorted. */
  readonly urls: readonly string[]
}

/** Where the cluster serves HTTPRoutes; a 404 means the Gateway API CRDs are not installed yet. */
const HTTPROUTES = '/apis/gateway.networking.k8s.io/v1/httproutes'

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
  return { nodes, applications, urls: await routeUrls(api) }
}

/** The routes' URLs: every HTTPRoute's hostnames, served over https by the shared Gateway. */
async function routeUrls(api: KubeClient): Promise<string[]> {
  let routes: KubeObject[]
  try {
    routes = (await api.list<KubeObject>(HTTPROUTES)).items
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return []
    throw error
  }
  const urls = new Set<string>()
  for (const route of routes) {
    for (const host of (route.spec as { hostnames?: unknown[] } | undefined)?.hostnames ?? []) {
      // A wildcard (the https redirect's *.<domain>) is not a page to open.
      if (typeof host === 'string' && /^[a-z0-9.-]+$/.test(host)) urls.add(`https://${host}`)
    }
  }
  return [...urls].sort()
}
