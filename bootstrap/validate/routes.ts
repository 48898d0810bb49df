/**
 * The HTTPRoute rules of docs/gitops.md ("Routing"): every HTTPRoute a component renders attaches to
 * the shared Gateway, serves hostnames under the configured domain, and sends traffic to a Service
 * port that the component's own render defines. Pure: it reads rendered manifests only.
 */
import type { RenderedManifest } from '../render/helm.ts'

/** The shared Gateway (system/envoy-gateway; the same names as homelab-lib's `homelab.gateway.*`). */
export const SHARED_GATEWAY = {
  namespace: 'envoy-gateway',
  name: 'homelab',
  https: 'https',
  http: 'http',
} as const

/**
 * A route's backend whose Service comes from somewhere other than this Helm render, so it cannot
 * be checked here: set as the route's annotation with the place it comes from (e.g. ArgoCD's
 * install manifest, which bootstrap/argocd/install applies, not the chart).
 */
export const BACKEND_FROM = 'homelab.dev/backend-from'

/** One backend of one route, and whether the render proved it exists. */
export interface RouteBackend {
  readonly route: string
  readonly hostnames: readonly string[]
  readonly service: string
  readonly port: number | undefined
  /** `checked`: the Service and port are in the render; `unverified`: they may come from `reason`. */
  readonly state: 'checked' | 'unverified'
  readonly reason?: string
}

export interface RouteReport {
  /** Each with the template that rendered the route (`templates/routes.yaml`). */
  readonly problems: { readonly template: string; readonly message: string }[]
  readonly backends: RouteBackend[]
}

// biome-ignore lint/suspicious/noExplicitAny: manifests are read field by field
type Doc = Record<string, any>

interface Context {
  /** The component's namespace (its folder's name). */
  readonly namespace: string
  readonly domain: string
  /** Every upstream chart was rendered too, so a Service missing from the render does not exist. */
  readonly whole: boolean
}

function parentProblems(what: string, route: Doc, ctx: Context): string[] {
  const refs: Doc[] = Array.isArray(route.spec?.parentRefs) ? route.spec.parentRefs : []
  if (refs.length === 0) {
    return [
      `${what}: has no parentRefs: attach it to the shared Gateway (the homelab.routes helper, bootstrap/lib)`,
    ]
  }
  const problems: string[] = []
  const hasBackends = (route.spec?.rules ?? []).some((r: Doc) => (r?.backendRefs ?? []).length > 0)
  for (const ref of refs) {
    const group = ref.group ?? 'gateway.networking.k8s.io'
    const kind = ref.kind ?? 'Gateway'
    const namespace = ref.namespace ?? route.metadata?.namespace ?? ctx.namespace
    if (
      group !== 'gateway.networking.k8s.io' ||
      kind !== 'Gateway' ||
      namespace !== SHARED_GATEWAY.namespace ||
      ref.name !== SHARED_GATEWAY.name
    ) {
      problems.push(
        `${what}: parentRef ${JSON.stringify(`${namespace}/${String(ref.name)}`)} is not the shared Gateway "${SHARED_GATEWAY.namespace}/${SHARED_GATEWAY.name}": use the homelab.routes helper (bootstrap/lib)`,
      )
    } else if (
      ref.sectionName !== SHARED_GATEWAY.https &&
      !(ref.sectionName === SHARED_GATEWAY.http && !hasBackends)
    ) {
      problems.push(
        `${what}: attaches to listener ${JSON.stringify(ref.sectionName ?? '(every listener)')}, not "${SHARED_GATEWAY.https}": set sectionName: https (the http listener only redirects)`,
      )
    }
  }
  return problems
}

function hostnameProblems(what: string, hostnames: unknown[], domain: string): string[] {
  if (hostnames.length === 0) {
    return [`${what}: has no hostnames: give it <name>.${domain} (the homelab.routes helper, bootstrap/lib)`]
  }
  return hostnames
    .filter((h) => typeof h !== 'string' || !h.endsWith(`.${domain}`))
    .map(
      (h) =>
        `${what}: hostname ${JSON.stringify(h)} is not under the domain "${domain}": use the homelab.routes helper (<host>.<global.homelab.domain>)`,
    )
}

/** The rendered Services of the component's namespace, by name: their port numbers. */
function servicePorts(manifests: readonly RenderedManifest[], namespace: string): Map<string, number[]> {
  const services = new Map<string, number[]>()
  for (const { manifest } of manifests) {
    const doc = manifest as Doc
    if (doc.apiVersion !== 'v1' || doc.kind !== 'Service') continue
    if ((doc.metadata?.namespace ?? namespace) !== namespace) continue
    services.set(
      String(doc.metadata?.name),
      (doc.spec?.ports ?? []).map((p: Doc) => p?.port),
    )
  }
  return services
}

/** Checks every HTTPRoute of one component's render (see the module comment). */
export function routeReport(manifests: readonly RenderedManifest[], ctx: Context): RouteReport {
  const problems: RouteReport['problems'] = []
  const backends: RouteBackend[] = []
  const services = servicePorts(manifests, ctx.namespace)
  for (const { manifest, template } of manifests) {
    const route = manifest as Doc
    if (route.apiVersion !== 'gateway.networking.k8s.io/v1' || route.kind !== 'HTTPRoute') continue
    const name = String(route.metadata?.name)
    const what = `HTTPRoute "${name}"`
    const hostnames: unknown[] = Array.isArray(route.spec?.hostnames) ? route.spec.hostnames : []
    const problem = (message: string) => problems.push({ template, message })
    for (const message of parentProblems(what, route, ctx)) problem(message)
    for (const message of hostnameProblems(what, hostnames, ctx.domain)) problem(message)
    const from = route.metadata?.annotations?.[BACKEND_FROM]
    for (const rule of route.spec?.rules ?? []) {
      for (const ref of (rule?.backendRefs ?? []) as Doc[]) {
        const service = String(ref.name)
        const port = typeof ref.port === 'number' ? ref.port : undefined
        const backend = { route: name, hostnames: hostnames.map(String), service, port }
        if ((ref.group ?? '') !== '' || (ref.kind ?? 'Service') !== 'Service') {
          problem(
            `${what}: backendRef ${JSON.stringify(service)} is not a Service: route to the component's Service`,
          )
          continue
        }
        if (ref.namespace !== undefined && ref.namespace !== ctx.namespace) {
          problem(
            `${what}: backendRef ${JSON.stringify(service)} is in namespace "${ref.namespace}", not "${ctx.namespace}": route to a Service of the component's own namespace`,
          )
          continue
        }
        const ports = services.get(service)
        if (ports?.includes(port as number)) {
          backends.push({ ...backend, state: 'checked' })
        } else if (typeof from === 'string' && from !== '') {
          backends.push({ ...backend, state: 'unverified', reason: from })
        } else if (!ctx.whole) {
          backends.push({ ...backend, state: 'unverified', reason: 'the upstream chart, not rendered' })
        } else if (ports === undefined) {
          problem(
            `${what}: backend Service ${JSON.stringify(service)} is not rendered by this component: set routes[].service to one of [${[...services.keys()].join(', ')}]`,
          )
        } else {
          problem(
            `${what}: backend Service "${service}" has no port ${JSON.stringify(ref.port)}: set routes[].port to one of [${ports.join(', ')}]`,
          )
        }
      }
    }
  }
  return { problems, backends }
}
