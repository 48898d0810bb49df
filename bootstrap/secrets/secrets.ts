/**
 * The generated secrets (registry.ts) in the cluster, through the Kubernetes API only:
 *
 * - ensureSecrets(): each Secret is created when absent and never touched when present, so a
 *   second `homelab bootstrap`, a re-render or an ArgoCD sync changes no value (none of them is in
 *   a render: ArgoCD neither owns nor prunes them). A value set written to several places takes a
 *   present copy's values for the missing ones.
 * - readSecret(): one value, for `homelab secrets show`.
 * - rotateSecret(): new values for one entry in every place, then a pod template annotation on
 *   each workload that uses it, so that they restart and read them.
 */
import { randomBytes } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { KubeApiError, type KubeClient, type KubeObject } from '../../lib/kube/index.ts'
import { GENERATED_SECRETS, type GeneratedSecret, type Place, secretById } from './registry.ts'

/** Marks what homelab generated (never an ArgoCD tracking annotation: ArgoCD must not prune them). */
export const MANAGED_BY = 'homelab'
export const SECRET_ANNOTATION = 'homelab.dev/generated-secret'
/** The pod template annotation `rotate` sets: `<id> <ISO time>`. */
export const ROTATED_ANNOTATION = 'homelab.dev/secret-rotated'
/** bcrypt cost of the Dex admin hash (Dex's own examples use 10). */
export const BCRYPT_COST = 10

export type SecretEvent =
  | {
      type: 'secret'
      id: string
      namespace: string
      name: string
      result: 'created' | 'unchanged' | 'rotated'
    }
  | {
      type: 'secret.restart'
      id: string
      kind: string
      namespace: string
      name: string
      result: 'restarted' | 'absent'
    }

type Values = Record<string, string>

const secretPath = (p: Place) => `/api/v1/namespaces/${p.namespace}/secrets/${p.name}`
const placeKeys = (s: GeneratedSecret, p: Place): Record<string, string> =>
  p.keys ?? Object.fromEntries(Object.keys(s.keys).map((k) => [k, k]))

/** Fresh values for every key: fixed and random first, then hashes of them. */
export function generateValues(s: GeneratedSecret, keep: Values = {}): Values {
  const values: Values = { ...keep }
  for (const [key, g] of Object.entries(s.keys)) {
    if (values[key] !== undefined) continue
    if (g.kind === 'fixed') values[key] = g.value
    else if (g.kind === 'random') values[key] = randomBytes(g.bytes).toString('base64url')
  }
  for (const [key, g] of Object.entries(s.keys)) {
    if (values[key] !== undefined || g.kind !== 'bcrypt') continue
    const of = values[g.of]
    if (of === undefined) throw new Error(`Cannot hash key "${g.of}" of secret "${s.id}": it has no value`)
    values[key] = bcrypt.hashSync(of, BCRYPT_COST)
  }
  return values
}

/** The Secret object of one place, its keys renamed as the place wants. */
export function secretObject(s: GeneratedSecret, p: Place, values: Values): KubeObject {
  const data: Record<string, string> = {}
  for (const [placeKey, valueKey] of Object.entries(placeKeys(s, p))) {
    const v = values[valueKey]
    if (v !== undefined) data[placeKey] = Buffer.from(v).toString('base64')
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { ...p.labels, 'app.kubernetes.io/managed-by': MANAGED_BY },
      annotations: { [SECRET_ANNOTATION]: s.id },
    },
    type: 'Opaque',
    data,
  }
}

/** The values a present Secret holds, under the value set's key names. */
function valuesOf(s: GeneratedSecret, p: Place, secret: KubeObject): Values {
  const data = (secret.data ?? {}) as Record<string, string>
  const values: Values = {}
  for (const [placeKey, valueKey] of Object.entries(placeKeys(s, p))) {
    const v = data[placeKey]
    if (v !== undefined) values[valueKey] = Buffer.from(v, 'base64').toString('utf8')
  }
  return values
}

async function ensureNamespace(api: KubeClient, namespace: string, done: Set<string>): Promise<void> {
  if (done.has(namespace)) return
  if ((await api.get(`/api/v1/namespaces/${namespace}`)) === undefined) {
    try {
      await api.request('POST', '/api/v1/namespaces', {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      })
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) throw error
    }
  }
  done.add(namespace)
}

export interface EnsureOptions {
  readonly registry?: readonly GeneratedSecret[]
  readonly events?: (e: SecretEvent) => void
}

/** Creates every generated Secret that is absent; present ones are left as they are. */
export async function ensureSecrets(api: KubeClient, options: EnsureOptions = {}): Promise<SecretEvent[]> {
  const emitted: SecretEvent[] = []
  const emit = (e: SecretEvent) => {
    emitted.push(e)
    options.events?.(e)
  }
  const namespaces = new Set<string>()
  for (const s of options.registry ?? GENERATED_SECRETS) {
    const present = await Promise.all(s.places.map((p) => api.get<KubeObject>(secretPath(p))))
    let known: Values = {}
    s.places.forEach((p, i) => {
      const secret = present[i]
      if (secret !== undefined) known = { ...valuesOf(s, p, secret), ...known }
    })
    const missing = s.places.filter((_, i) => present[i] === undefined)
    const values = missing.length > 0 ? generateValues(s, known) : known
    for (const p of s.places) {
      const result = missing.includes(p) ? 'created' : 'unchanged'
      if (result === 'created') {
        await ensureNamespace(api, p.namespace, namespaces)
        await api.request('POST', `/api/v1/namespaces/${p.namespace}/secrets`, {
          body: secretObject(s, p, values),
        })
      }
      emit({ type: 'secret', id: s.id, namespace: p.namespace, name: p.name, result })
    }
  }
  return emitted
}

/** The value `homelab secrets show ID` prints (the entry's `show` key), from its first place. */
export async function readSecret(api: KubeClient, id: string, registry = GENERATED_SECRETS): Promise<string> {
  const s = secretById(id, registry)
  const p = s.places[0] as Place
  const secret = await api.get<KubeObject>(secretPath(p))
  const value = secret === undefined ? undefined : valuesOf(s, p, secret)[s.show]
  if (value === undefined) {
    throw new Error(
      `Cannot show secret "${id}": Secret ${p.namespace}/${p.name} does not exist or has no ${s.show}: run \`homelab bootstrap\` first`,
    )
  }
  return value
}

export interface RotateOptions {
  readonly registry?: readonly GeneratedSecret[]
  readonly events?: (e: SecretEvent) => void
  /** @default () => new Date() */
  readonly now?: () => Date
}

/** New values for one entry in every place, then its workloads restarted. */
export async function rotateSecret(
  api: KubeClient,
  id: string,
  options: RotateOptions = {},
): Promise<SecretEvent[]> {
  const s = secretById(id, options.registry)
  const emitted: SecretEvent[] = []
  const emit = (e: SecretEvent) => {
    emitted.push(e)
    options.events?.(e)
  }
  const values = generateValues(s)
  const namespaces = new Set<string>()
  for (const p of s.places) {
    const obj = secretObject(s, p, values)
    if ((await api.get(secretPath(p))) === undefined) {
      await ensureNamespace(api, p.namespace, namespaces)
      await api.request('POST', `/api/v1/namespaces/${p.namespace}/secrets`, { body: obj })
    } else {
      // Replaces data whole: a key dropped from the registry goes too.
      await api.request('PUT', secretPath(p), { body: obj })
    }
    emit({ type: 'secret', id: s.id, namespace: p.namespace, name: p.name, result: 'rotated' })
  }
  const stamp = `${s.id} ${(options.now ?? (() => new Date()))().toISOString()}`
  for (const w of s.usedBy) {
    const path = `/apis/apps/v1/namespaces/${w.namespace}/${w.kind === 'Deployment' ? 'deployments' : 'statefulsets'}/${w.name}`
    const patch = { spec: { template: { metadata: { annotations: { [ROTATED_ANNOTATION]: stamp } } } } }
    let result: 'restarted' | 'absent' = 'restarted'
    try {
      await api.patch(path, patch, 'merge')
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 404)) throw error
      result = 'absent'
    }
    emit({ type: 'secret.restart', id: s.id, kind: w.kind, namespace: w.namespace, name: w.name, result })
  }
  return emitted
}
