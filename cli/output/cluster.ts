/** How the cluster's events look for people: the plan, one live row per node, node removal. */
import { formatSummaryTable } from '../../core/log/table.ts'
import type { ClusterEvent, NodeOutcome } from '../../metal/cluster/cluster.ts'
import type { RemoveEvent } from '../../metal/cluster/remove.ts'
import { show } from './paths.ts'
import { line, note, type Renderers, row } from './shown.ts'

export type ClusterOutputEvent = ClusterEvent | RemoveEvent

export function clusterSummary(nodes: readonly NodeOutcome[]): string[] {
  return formatSummaryTable(
    'summary',
    ['NODE', 'ROLE', 'RESULT', 'DETAIL'],
    nodes.map((n) => [n.node, n.role, n.result, n.detail]),
  )
}

const TOKEN = {
  new: () => 'token: generated (32 characters), stored 0600 in the state folder',
  member: (from: string | undefined) => `token: read back from ${from} (the state folder had none)`,
  stored: () => 'token: the stored one',
} as const

export const CLUSTER: Renderers<ClusterOutputEvent> = {
  'cluster.plan': ({ plan: p }) => [
    line(
      `endpoint ${p.endpoint}${p.endpointIsVip ? ' (virtual IP, kube-vip)' : ''}; ` +
        (p.init !== undefined
          ? `no server holds a cluster: ${p.init} initialises it`
          : `the cluster is held by ${p.members.join(', ')}`) +
        `; joins go through ${p.joinAddress}`,
    ),
  ],
  'cluster.token': (e) => [note(TOKEN[e.source](e.from))],
  'cluster.download': (e) => [note(e.detail)],
  'node.step': (e) => [
    row(
      e.node,
      e.step,
      e.status === 'running'
        ? (e.detail ?? '...')
        : `${e.status}${e.detail === undefined ? '' : `: ${e.detail}`}`,
    ),
  ],
  'node.failed': (e) => [
    row(e.node, 'FAILED', `at ${e.step}`),
    note(`${e.node}: failed at step "${e.step}": ${e.message}`),
  ],
  'node.rebuilt': (e) => [note(`${e.node}: ${e.detail}`)],
  'node.nic': (e) => [note(`warning: ${e.node}: ${e.message}`)],
  'node.waiting': (e) => [row(e.node, 'ready?', e.lastSeen)],
  'node.ready': (e) => [row(e.node, 'Ready', 'the API reports it Ready')],
  'kubeconfig.written': (e) => [
    note(`kubeconfig: ${show(e.path)} (${e.changed ? 'written' : 'unchanged'}, 0600)`),
  ],
  'cluster.summary': (e) => [{ to: 'summary', lines: clusterSummary(e.nodes) }],
  'remove.step': (e) => [line(`${e.node}: ${e.step}: ${e.detail}`)],
  'drain.cordoned': (e) => [line(`${e.node}: cordoned (no new pods)`)],
  'drain.evicting': (e) => [line(`${e.node}: evicting ${e.pod}`)],
  'drain.blocked': (e) => [
    line(`${e.node}: ${e.pod} not evicted yet (${e.message}); retrying in ${e.delayMs} ms`),
  ],
  'drain.done': (e) => [line(`${e.node}: drained (${e.evicted} pods evicted)`)],
}
