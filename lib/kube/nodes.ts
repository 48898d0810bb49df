/**
 * Nodes through the Kubernetes API: status, cordon, drain (evictions that respect
 * PodDisruptionBudgets) and removal, as a node is replaced or reinstalled.
 */
import { type Clock, PollTimeoutError, poll, REAL_CLOCK } from '../poll/index.ts'
import { KubeApiError, type KubeClient } from './client.ts'

export interface NodeStatus {
  name: string
  ready: boolean
  readyReason?: string
  readyMessage?: string
  /** From the `node-role.kubernetes.io/<role>` labels, sorted. */
  roles: string[]
  kubeletVersion?: string
  internalIP?: string
  unschedulable: boolean
}

interface NodeObject {
  metadata: { name: string; labels?: Record<string, string> }
  spec?: { unschedulable?: boolean }
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[]
    addresses?: { type: string; address: string }[]
    nodeInfo?: { kubeletVersion?: string }
  }
}

interface PodObject {
  metadata: {
    name: string
    namespace: string
    uid?: string
    annotations?: Record<string, string>
    ownerReferences?: { kind: string; name: string; controller?: boolean }[]
  }
}

const ROLE_PREFIX = 'node-role.kubernetes.io/'

export function nodeStatus(node: NodeObject): NodeStatus {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')
  const status: NodeStatus = {
    name: node.metadata.name,
    ready: ready?.status === 'True',
    roles: Object.keys(node.metadata.labels ?? {})
      .filter((l) => l.startsWith(ROLE_PREFIX))
      .map((l) => l.slice(ROLE_PREFIX.length))
      .sort(),
    unschedulable: node.spec?.unschedulable === true,
  }
  if (ready?.reason) status.readyReason = ready.reason
  if (ready?.message) status.readyMessage = ready.message
  const kubelet = node.status?.nodeInfo?.kubeletVersion
  if (kubelet) status.kubeletVersion = kubelet
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address
  if (ip) status.internalIP = ip
  return status
}

export async function listNodes(client: KubeClient): Promise<NodeStatus[]> {
  const list = await client.list<NodeObject>('/api/v1/nodes')
  return list.items.map(nodeStatus).sort((a, b) => a.name.localeCompare(b.name))
}

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`

export async function cordon(client: KubeClient, name: string): Promise<void> {
  await client.patch(nodePath(name), { spec: { unschedulable: true } }, 'strategic')
}

export async function uncordon(client: KubeClient, name: string): Promise<void> {
  await client.patch(nodePath(name), { spec: { unschedulable: null } }, 'strategic')
}

/** True when the node was deleted, false when it was not there. */
export function deleteNode(client: KubeClient, name: string): Promise<boolean> {
  return client.delete(nodePath(name))
}

export type DrainEvent =
  | { type: 'drain.cordoned'; node: string }
  | { type: 'drain.skipped'; node: string; pod: string; why: 'daemonset' | 'mirror' }
  | { type: 'drain.evicting'; node: string; pod: string }
  | { type: 'drain.blocked'; node: string; pod: string; attempt: number; delayMs: number; message: string }
  | { type: 'drain.done'; node: string; evicted: number }

export interface DrainOptions {
  /** Time allowed for evictions plus the pods to be gone. */
  timeoutMs: number
  /** First delay after a 429 (PodDisruptionBudget); doubled per retry. @default 500 */
  retryDelayMs?: number
  /** @default 5000 */
  maxRetryDelayMs?: number
  /** Between checks for the evicted pods to be gone. @default 250 */
  pollMs?: number
  onEvent?: (event: DrainEvent) => void
  /** What time it is and how to wait: tests pass a clock they drive. @default the real one */
  clock?: Clock
}

/** Time as drain() sees it (lib/poll's clock). */
export type { Clock }

const podKey = (p: PodObject) => `${p.metadata.namespace}/${p.metadata.name}`

function skipReason(pod: PodObject): 'daemonset' | 'mirror' | undefined {
  if (pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) return 'mirror'
  if (pod.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet')) return 'daemonset'
  return undefined
}

/**
 * Cordons the node and evicts its pods, DaemonSet and mirror (static) pods excepted, retrying
 * evictions refused by a PodDisruptionBudget (429); then waits until the evicted pods are gone.
 */
export async function drain(client: KubeClient, name: string, options: DrainOptions): Promise<void> {
  const clock = options.clock ?? REAL_CLOCK
  const deadline = clock.now() + options.timeoutMs
  const emit = options.onEvent ?? (() => {})
  const retryDelayMs = options.retryDelayMs ?? 500
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5000
  const pollMs = options.pollMs ?? 250
  await cordon(client, name)
  emit({ type: 'drain.cordoned', node: name })
  const onNode = async () =>
    (await client.list<PodObject>('/api/v1/pods', { fieldSelector: `spec.nodeName=${name}` })).items
  const toEvict: PodObject[] = []
  for (const pod of await onNode()) {
    const why = skipReason(pod)
    if (why) emit({ type: 'drain.skipped', node: name, pod: podKey(pod), why })
    else toEvict.push(pod)
  }
  const timeout = (what: string, pods: string[]) =>
    new Error(
      `Cannot drain node "${name}": ${what} after ${options.timeoutMs} ms: ${pods.map((p) => `"${p}"`).join(', ')}: ` +
        `check the PodDisruptionBudgets and the pods' termination, or raise the drain timeout`,
    )
  /** poll()'s timeout, as drain()'s message naming the pods; other errors as they are. */
  const orTimeout = (what: string) => (error: unknown) => {
    if (!(error instanceof PollTimeoutError)) throw error
    throw timeout(what, error.lastSeen as string[])
  }
  await Promise.all(
    toEvict.map(async (pod) => {
      const { namespace, name: podName } = pod.metadata
      emit({ type: 'drain.evicting', node: name, pod: podKey(pod) })
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}/eviction`
      const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: podName, namespace } }
      await poll<true, string[]>(
        async ({ see }): Promise<true> => {
          see([podKey(pod)])
          try {
            await client.request('POST', path, { body })
            return true
          } catch (error) {
            if (error instanceof KubeApiError && error.status === 404) return true
            throw error
          }
        },
        {
          what: `the eviction of "${podKey(pod)}"`,
          intervalMs: retryDelayMs,
          backoff: { factor: 2, maxMs: maxRetryDelayMs },
          timeoutMs: deadline - clock.now(),
          clock,
          retry: (error) => error instanceof KubeApiError && error.status === 429,
          onWait: ({ attempt, delayMs, error }) =>
            emit({
              type: 'drain.blocked',
              node: name,
              pod: podKey(pod),
              attempt,
              delayMs,
              message: (error as Error).message,
            }),
        },
      ).catch(orTimeout('eviction still refused'))
    }),
  )
  const evicted = new Set(toEvict.map((p) => p.metadata.uid ?? podKey(p)))
  await poll<true, string[]>(
    async ({ see }): Promise<true | undefined> => {
      const left = (await onNode()).filter((p) => evicted.has(p.metadata.uid ?? podKey(p))).map(podKey)
      see(left)
      return left.length === 0 ? true : undefined
    },
    { what: 'the evicted pods to be gone', intervalMs: pollMs, timeoutMs: deadline - clock.now(), clock },
  ).catch(orTimeout('pods still on the node'))
  emit({ type: 'drain.done', node: name, evicted: toEvict.length })
}
