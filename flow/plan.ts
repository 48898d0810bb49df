/**
 * `homelab plan`: what `make` would do, layer by layer and machine by machine.
 * It reads the config and the repo's folders and touches nothing else.
 */
import { discoverApps } from '../bootstrap/root/discover.ts'
import { bootMethodOf } from '../core/config/boot-methods.ts'
import type { LoadedConfig } from '../core/config/load.ts'
import type { EventSink } from '../core/log/events.ts'
import { formatRange } from '../lib/ipv4/index.ts'
import { FRESH_NODE, planCluster } from '../metal/cluster/plan.ts'

export async function plan(loaded: LoadedConfig, repoRoot: string, emit: EventSink): Promise<void> {
  const { config, derived } = loaded
  const step = (layer: string, name: string, detail: string, machine?: string) =>
    emit({ type: 'plan.step', layer, step: name, detail, ...(machine === undefined ? {} : { machine }) })

  const dhcp =
    config.network.dhcp.mode === 'proxy'
      ? 'proxy mode: the router keeps leasing addresses, we add boot information for the machines below only'
      : `full mode: each machine gets its configured address${derived.dhcpRange === undefined ? '' : `; others get ${formatRange(derived.dhcpRange)} without boot information`}`
  step(
    'metal',
    'preflight',
    `homelab doctor: interface ${config.network.interface}, ports 67/69/80/4011, other DHCP servers`,
  )
  step('metal', 'pxe', `PXE server on ${config.network.interface} (DHCP ${dhcp}; TFTP; HTTP)`)
  for (const m of config.machines) {
    step(
      'metal',
      'install',
      `wake ${m.mac}, ${bootMethodOf(m).summary}, install to ${m.disk}, then ${m.ip}`,
      m.name,
    )
  }
  const servers = config.machines.filter((m) => m.role === 'server')
  const agents = config.machines.filter((m) => m.role === 'agent')
  step(
    'cluster',
    'k3s',
    `k3s ${config.cluster.k3sVersion}: ${servers.length} server(s) ${servers.map((m) => m.name).join(', ')}` +
      `${agents.length > 0 ? `, ${agents.length} agent(s) ${agents.map((m) => m.name).join(', ')}` : ''}; ` +
      'the server that initialises is chosen by probing for an existing cluster, never by list order',
  )
  // What `homelab cluster` would do on machines that hold no cluster yet (it probes them first:
  // servers that already hold one keep it, and then nobody initialises).
  const fresh = planCluster(
    config.machines,
    config.cluster.endpoint,
    new Map(config.machines.map((m) => [m.name, FRESH_NODE])),
  )
  for (const node of fresh.nodes) {
    const m = node.machine
    step(
      'cluster',
      node.phase === 'init' ? 'init' : m.role === 'server' ? 'join-server' : 'join-agent',
      node.phase === 'init'
        ? 'initialises the cluster, unless a server already holds one'
        : `joins as ${m.role} through ${fresh.joinAddress}${m.role === 'server' ? ' (servers one at a time)' : ''}`,
      m.name,
    )
  }
  step('cluster', 'kubeconfig', `kubeconfig with server https://${config.cluster.endpoint}:6443`)
  step(
    'bootstrap',
    'argocd',
    `ArgoCD, then the root app reading ${config.gitops.seed.url} @ ${config.gitops.seed.revision} until Gitea serves ${config.gitops.clusterRepo}`,
  )
  for (const app of await discoverApps(repoRoot)) {
    emit({ type: 'plan.app', layer: app.layer, name: app.name, namespace: app.namespace, source: app.source })
  }
}
