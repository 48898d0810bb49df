/**
 * Validates a rendered manifest against its kind's schema: Kubernetes kinds with
 * `kubernetes-models`, Argo CD, cert-manager and Gateway API kinds with `@kubernetes-models/argo-cd`,
 * `@kubernetes-models/cert-manager` and `@kubernetes-models/gateway-api` (their validators are the
 * upstream OpenAPI and CRD schemas), MetalLB and Envoy Gateway kinds with the hand-written zod
 * schemas in metallb-schema.ts and envoy-schema.ts. A kind with no schema is a
 * problem too: add its models here.
 */
import type { z } from 'zod'
import { ENVOY_GATEWAY_SCHEMAS } from './envoy-schema.ts'
import { METALLB_SCHEMAS } from './metallb-schema.ts'

const ZOD_SCHEMAS: Readonly<Record<string, z.ZodType>> = { ...METALLB_SCHEMAS, ...ENVOY_GATEWAY_SCHEMAS }

// Where each API group's models live; the core group ("v1") is in kubernetes-models as "v1".
const PACKAGES: Readonly<Record<string, string>> = {
  'argoproj.io': '@kubernetes-models/argo-cd',
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'acme.cert-manager.io': '@kubernetes-models/cert-manager',
  'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
}
const KUBERNETES_GROUPS = new Set([
  '',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'flowcontrol.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
])

interface ModelClass {
  new (data: unknown): { validate(): void }
}

const cache = new Map<string, Promise<ModelClass | undefined>>()

function modelSpecifier(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/')
  const group = slash === -1 ? '' : apiVersion.slice(0, slash)
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1)
  if (!/^[A-Za-z0-9]+$/.test(kind) || !/^v[0-9a-z]+$/.test(version)) return undefined
  if (KUBERNETES_GROUPS.has(group))
    return `kubernetes-models/${group === '' ? '' : `${group}/`}${version}/${kind}`
  const pkg = PACKAGES[group]
  return pkg === undefined ? undefined : `${pkg}/${group}/${version}/${kind}`
}

async function loadModel(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const specifier = modelSpecifier(apiVersion, kind)
  if (specifier === undefined) return undefined
  let model = cache.get(specifier)
  if (model === undefined) {
    model = import(specifier).then(
      (mod: Record<string, unknown>) => mod[kind] as ModelClass | undefined,
      () => undefined,
    )
    cache.set(specifier, model)
  }
  return model
}

/** The schema problems of one manifest (empty when valid). */
export async function schemaProblems(manifest: Record<string, unknown>): Promise<string[]> {
  const { apiVersion, kind } = manifest
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['has no apiVersion or kind']
  const problems: string[] = []
  const metadata = manifest.metadata as { name?: unknown } | undefined
  if (typeof metadata?.name !== 'string' || metadata.name === '') problems.push('has no metadata.name')
  const zodSchema = ZOD_SCHEMAS[`${apiVersion}/${kind}`]
  if (zodSchema !== undefined) {
    const result = zodSchema.safeParse(manifest)
    if (!result.success) {
      for (const issue of result.error.issues)
        problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`)
    }
    return problems
  }
  const Model = await loadModel(apiVersion, kind)
  if (Model === undefined) {
    return [
      ...problems,
      `no schema is known for ${apiVersion} ${kind} (add its models in bootstrap/validate/schemas.ts)`,
    ]
  }
  try {
    new Model(manifest).validate()
  } catch (cause) {
    const errors = (cause as { errors?: { instancePath?: string; message?: string }[] }).errors
    if (errors === undefined) problems.push(String((cause as Error).message))
    else for (const e of errors) problems.push(`${e.instancePath || '(root)'}: ${e.message}`)
  }
  return problems
}
