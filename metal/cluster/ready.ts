/**
 * The last wait of `homelab cluster`: waitReady() polls the Kubernetes API until every named node
 * is Ready, reporting what each node shows as it changes (`node.waiting`, then `node.ready`), and
 * returns the nodes that are not Ready at the timeout (or when the signal aborts) with what was
 * last seen of them.
 */
import { type KubeClient, listNodes, type NodeStatus } from '../../lib/kube/index.ts'
import { type Clock, PollTimeoutError, poll } from '../../lib/poll/index.ts'
import { CLUSTER_DEFAULTS } from './defaults.ts'
import type { ClusterEvent } from './run.ts'

function describe(node: NodeStatus | undefined): string {
  if (node === undefined) return 'not registered with the API yet'
  if (node.ready) return 'Ready'
  return `NotReady${node.readyReason === undefined ? '' : `: ${node.readyReason}`}${node.readyMessage === undefined ? '' : ` (${node.readyMessage})`}`
}

export interface WaitReadyOptions {
  readonly timeoutMs: number
  readonly events: (event: ClusterEvent) => void
  /** Between two readings. @default 1000 */
  readonly pollMs?: number
  readonly signal?: AbortSignal
  /** @default the wall clock */
  readonly clock?: Clock
}

/**
 * Polls the API until every named node is Ready; returns the ones that are not, with what was
 * last seen (at the timeout, or when the signal aborts). A `node.waiting` event each time what a
 * node shows changes, `node.ready` once.
 */
export async function waitReady(
  api: KubeClient,
  names: readonly string[],
  options: WaitReadyOptions,
): Promise<Map<string, string>> {
  const { timeoutMs, events, signal } = options
  const last = new Map<string, string>(names.map((n) => [n, 'not checked yet']))
  const ready = new Set<string>()
  /** Records what a node shows now; an event when that changed. */
  const see = (n: string, seen: string, isReady: boolean) => {
    if (isReady) {
      ready.add(n)
      events({ type: 'node.ready', node: n })
    } else if (last.get(n) !== seen) {
      events({ type: 'node.waiting', node: n, lastSeen: seen })
    }
    last.set(n, seen)
  }
  const check = async (): Promise<true | undefined> => {
    const waiting = names.filter((n) => !ready.has(n))
    try {
      const nodes = await listNodes(api)
      for (const n of waiting) {
        const node = nodes.find((x) => x.name === n)
        see(n, describe(node), node?.ready === true)
      }
    } catch (error) {
      for (const n of waiting) see(n, `the API did not answer: ${(error as Error).message}`, false)
    }
    return ready.size === names.length ? true : undefined
  }
  try {
    await poll(check, {
      what: 'the nodes to be Ready',
      intervalMs: options.pollMs ?? CLUSTER_DEFAULTS.readyPollMs,
      timeoutMs,
      signal,
      clock: options.clock,
    })
    return new Map()
  } catch (error) {
    if (!(error instanceof PollTimeoutError) && signal?.aborted !== true) throw error
    return new Map([...last].filter(([n]) => !ready.has(n)))
  }
}
