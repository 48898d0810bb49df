/**
 * The stand-in Kubernetes API server's in-memory object store and resource table: generic
 * objects keyed by group, plural, namespace and name, with the metadata the real API sets
 * (uid, resourceVersion, creationTimestamp), and the patch flavours it accepts.
 */
import { randomUUID } from 'node:crypto'

export interface StandinResource {
  group: string
  versions: string[]
  plural: string
  kind: string
  namespaced: boolean
}

// biome-ignore lint/suspicious/noExplicitAny: objects are arbitrary JSON
export type Json = any

const r = (
  group: string,
  version: string,
  namespaced: boolean,
  list: [string, string][],
): StandinResource[] =>
  list.map(([plural, kind]) => ({ group, versions: [version], plural, kind, namespaced }))

/** The built-in resources the stand-in serves (a subset of what k3s serves). */
export const BUILTIN_RESOURCES: readonly StandinResource[] = [
  ...r('', 'v1', false, [
    ['namespaces', 'Namespace'],
    ['nodes', 'Node'],
  ]),
  ...r('', 'v1', true, [
    ['pods', 'Pod'],
    ['secrets', 'Secret'],
    ['configmaps', 'ConfigMap'],
    ['services', 'Service'],
    ['serviceaccounts', 'ServiceAccount'],
    ['events', 'Event'],
  ]),
  ...r('apps', 'v1', true, [
    ['deployments', 'Deployment'],
    ['daemonsets', 'DaemonSet'],
    ['statefulsets', 'StatefulSet'],
  ]),
  ...r('apiextensions.k8s.io', 'v1', false, [['customresourcedefinitions', 'CustomResourceDefinition']]),
  ...r('rbac.authorization.k8s.io', 'v1', false, [
    ['clusterroles', 'ClusterRole'],
    ['clusterrolebindings', 'ClusterRoleBinding'],
  ]),
  ...r('rbac.authorization.k8s.io', 'v1', true, [
    ['roles', 'Role'],
    ['rolebindings', 'RoleBinding'],
  ]),
  ...r('networking.k8s.io', 'v1', true, [['ingresses', 'Ingress']]),
  ...r('policy', 'v1', true, [['poddisruptionbudgets', 'PodDisruptionBudget']]),
  ...r('batch', 'v1', true, [['jobs', 'Job']]),
]

/** An error the API answers with a Status object. */
export class StandinStatusError extends Error {
  readonly code: number
  readonly reason: string
  constructor(code: number, reason: string, message: string) {
    super(message)
    this.code = code
    this.reason = reason
  }
  toStatus() {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    }
  }
}

export const notFound = (res: StandinResource, name: string) =>
  new StandinStatusError(
    404,
    'NotFound',
    `${res.group ? `${res.plural}.${res.group}` : res.plural} "${name}" not found`,
  )

export const badRequest = (message: string) => new StandinStatusError(400, 'BadRequest', message)

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/')
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) }
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

export class StandinStore {
  readonly #objects = new Map<string, Json>()
  readonly #resources: StandinResource[] = BUILTIN_RESOURCES.map((x) => ({ ...x, versions: [...x.versions] }))
  #resourceVersion = 1

  /** Every resource currently served, built-in and from established CRDs. */
  resources(): readonly StandinResource[] {
    return this.#resources
  }

  addResource(res: StandinResource): void {
    this.removeResource(res.group, res.plural)
    this.#resources.push(res)
  }

  removeResource(group: string, plural: string): void {
    const i = this.#resources.findIndex((x) => x.group === group && x.plural === plural)
    if (i >= 0) this.#resources.splice(i, 1)
  }

  findResource(group: string, version: string, plural: string): StandinResource | undefined {
    return this.#resources.find(
      (x) => x.group === group && x.plural === plural && x.versions.includes(version),
    )
  }

  /** The resource of an apiVersion and kind, or a 404 error. */
  resourceOfKind(apiVersion: string, kind: string): StandinResource {
    const { group, version } = splitApiVersion(apiVersion)
    const res = this.#resources.find(
      (x) => x.group === group && x.kind === kind && x.versions.includes(version),
    )
    if (!res)
      throw new StandinStatusError(
        404,
        'NotFound',
        `the server could not find the requested resource (${apiVersion} ${kind})`,
      )
    return res
  }

  #key(res: StandinResource, namespace: string | undefined, name: string): string {
    return `${res.group}/${res.plural}/${res.namespaced ? (namespace ?? 'default') : ''}/${name}`
  }

  get(res: StandinResource, namespace: string | undefined, name: string): Json | undefined {
    const obj = this.#objects.get(this.#key(res, namespace, name))
    return obj === undefined ? undefined : structuredClone(obj)
  }

  list(res: StandinResource, namespace?: string): Json[] {
    const prefix = `${res.group}/${res.plural}/${res.namespaced && namespace !== undefined ? `${namespace}/` : ''}`
    return [...this.#objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => structuredClone(v))
      .sort((a, b) =>
        `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
        ),
      )
  }

  currentResourceVersion(): string {
    return String(this.#resourceVersion)
  }

  /**
   * Stores an object as given (created or replaced), setting apiVersion, kind, namespace, uid,
   * creationTimestamp and a new resourceVersion. Test hook as well as the API's write path.
   */
  put(obj: Json, version?: string): Json {
    const res = this.resourceOfKind(obj.apiVersion, obj.kind)
    const stored = structuredClone(obj)
    stored.metadata ??= {}
    const name = stored.metadata.name
    if (typeof name !== 'string' || name === '')
      throw badRequest(`${obj.kind}: metadata.name: Required value: name is required`)
    if (res.namespaced) stored.metadata.namespace ??= 'default'
    else delete stored.metadata.namespace
    if (version) stored.apiVersion = apiVersionOf(res.group, version)
    const key = this.#key(res, stored.metadata.namespace, name)
    const old = this.#objects.get(key)
    stored.metadata.uid = old?.metadata.uid ?? stored.metadata.uid ?? randomUUID()
    stored.metadata.creationTimestamp =
      old?.metadata.creationTimestamp ?? stored.metadata.creationTimestamp ?? now()
    stored.metadata.resourceVersion = String(++this.#resourceVersion)
    this.#objects.set(key, stored)
    return structuredClone(stored)
  }

  delete(res: StandinResource, namespace: string | undefined, name: string): Json | undefined {
    const key = this.#key(res, namespace, name)
    const old = this.#objects.get(key)
    this.#objects.delete(key)
    if (old !== undefined) this.#resourceVersion++
    return old
  }
}

/** RFC 7386 JSON merge patch: objects merge recursively, null removes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch)
  const out = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

function pointer(path: string): string[] {
  if (path === '') return []
  if (!path.startsWith('/')) throw badRequest(`json patch: path "${path}" does not start with /`)
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

/** RFC 6902 JSON patch: add, remove, replace and test. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch: the body is not an array of operations')
  let doc = structuredClone(target)
  for (const op of ops) {
    const parts = pointer(op.path)
    if (parts.length === 0) {
      if (op.op === 'test') {
        if (JSON.stringify(doc) !== JSON.stringify(op.value))
          throw new StandinStatusError(422, 'Invalid', 'json patch: test failed')
        continue
      }
      doc = op.op === 'remove' ? undefined : structuredClone(op.value)
      continue
    }
    let parent = doc
    for (const p of parts.slice(0, -1)) {
      parent = parent?.[Array.isArray(parent) ? Number(p) : p]
      if (typeof parent !== 'object' || parent === null)
        throw new StandinStatusError(422, 'Invalid', `json patch: path "${op.path}" does not exist`)
    }
    const last = parts[parts.length - 1] as string
    const exists = Array.isArray(parent) ? Number(last) < parent.length : Object.hasOwn(parent, last)
    switch (op.op) {
      case 'add':
        if (Array.isArray(parent))
          parent.splice(last === '-' ? parent.length : Number(last), 0, structuredClone(op.value))
        else parent[last] = structuredClone(op.value)
        break
      case 'replace':
      case 'remove':
        if (!exists)
          throw new StandinStatusError(422, 'Invalid', `json patch: path "${op.path}" does not exist`)
        if (op.op === 'replace')
          parent[Array.isArray(parent) ? Number(last) : last] = structuredClone(op.value)
        else if (Array.isArray(parent)) parent.splice(Number(last), 1)
        else delete parent[last]
        break
      case 'test':
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value))
          throw new StandinStatusError(422, 'Invalid', `json patch: test of "${op.path}" failed`)
        break
      default:
        throw badRequest(`json patch: operation "${op.op}" is not supported by the stand-in`)
    }
  }
  return doc
}

/** `a=b,c!=d,e` label selectors (equality, inequality, existence). */
export function matchLabels(
  selector: string | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return true
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      const ne = term.split('!=')
      if (ne.length === 2) return labels?.[ne[0]?.trim() ?? ''] !== ne[1]?.trim()
      const eq = term.split(/==?/)
      if (eq.length === 2) return labels?.[eq[0]?.trim() ?? ''] === eq[1]?.trim()
      if (term.startsWith('!')) return labels?.[term.slice(1)] === undefined
      return labels?.[term] !== undefined
    })
}

/** `spec.nodeName=x,metadata.name!=y` field selectors over dotted paths. */
export function matchFields(selector: string | undefined, obj: Json): boolean {
  if (!selector) return true
  return selector.split(',').every((term) => {
    const m = /^([^!=]+)(!=|==?)(.*)$/.exec(term.trim())
    if (!m) throw badRequest(`invalid field selector "${term}"`)
    const value = String(m[1]?.split('.').reduce((o: Json, k) => o?.[k], obj) ?? '')
    return m[2] === '!=' ? value !== m[3] : value === m[3]
  })
}
