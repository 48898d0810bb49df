/**
 * The Secrets `homelab external` writes, through the Kubernetes API (lib/kube): read one key, and
 * write a whole Secret by server-side apply (its namespace first). Our own small helper: values
 * never leave this module except as the function results.
 */
import type { KubeClient } from '../lib/kube/index.ts'
import type { SecretRef } from './names.ts'

export const FIELD_MANAGER = 'homelab-external'
const MANAGED_BY = { 'app.kubernetes.io/managed-by': FIELD_MANAGER }

interface SecretObject {
  data?: Record<string, string>
}

const secretPath = (ref: SecretRef) =>
  `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`

/** The key's value, or undefined when the Secret or the key is missing. */
export async function readSecretKey(api: KubeClient, ref: SecretRef): Promise<string | undefined> {
  const secret = await api.get<SecretObject>(secretPath(ref))
  const data = secret?.data?.[ref.key]
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8')
}

/** Creates or replaces the Secret with this one key (and creates its namespace if missing). */
export async function writeSecretKey(api: KubeClient, ref: SecretRef, value: string): Promise<void> {
  await api.apply(
    `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}`,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ref.namespace } },
    { fieldManager: FIELD_MANAGER },
  )
  await api.apply(
    secretPath(ref),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: ref.name, namespace: ref.namespace, labels: MANAGED_BY },
      data: { [ref.key]: Buffer.from(value, 'utf8').toString('base64') },
    },
    { fieldManager: FIELD_MANAGER },
  )
}
