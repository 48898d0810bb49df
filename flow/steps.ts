/**
 * What each step of the flow would do with a config, as plan events: `homelab plan` prints these,
 * step by step, in the order flow.ts runs the steps. Reads the config and the repo's folders only.
 */
import { discoverApps } from '../bootstrap/root/discover.ts'
import { bootMethodOf } from '../core/config/boot-methods.ts'
import type { LoadedConfig } from '../core/config/load.ts'
import type { EventSink } from '../core/log/events.ts'
import { tunnelName } from '../external/index.ts'
import { formatRange } from '../lib/ipv4/index.ts'
import { FRESH_NODE, planCluster } from '../metal/cluster/plan.ts'

export interface PlanContext {
  readonly loaded: LoadedConfig
  readonly repoRoot: string
  readonly emit: EventSink
}

function stepOf(layer: string, emit: EventSink) {
  return (name: string, detail: string, machine?: string) =>
    emit({ type: 'plan.step', layer, step: name, detail, ...(machine === undefined ? {} : { machine }) })
}

/** metal: preflight, the PXE server, each machine's netboot and install. */
export function planMetal({ loaded, emit }: PlanContext): void {
  const { config, derived } = loaded
  const step = stepOf('metal', emit)
  const dhcp =
    config.network.dhcp.mode === 'proxy'
      ? 'proxy mode: the router keeps leasing addresses, we add boot information for the machines below only'
      : `full mode: each machine gets its configured address${derived.dhcpRange === undefined ? '' : `; others get ${formatRange(derived.dhcpRange)} without boot information`}`
  step(
    'preflight',
    `homelab doctor: interface ${config.network.interface}, ports 67/69/80/4011, other DHCP servers`,
  )
  step('pxe', `PXE server on ${config.network.interface} (DHCP ${dhcp}; TFTP; HTTP)`)
  for (const m of config.machines) {
    step('install', `wake ${m.mac}, ${bootMethodOf(m).summary}, install to ${m.disk}, then ${m.ip}`, m.name)
  }
}

/** cluster: k3s over SSH, who initialises and who joins, the kubeconfig. */
export function planK3s({ loaded, emit }: PlanContext): void {
  const { config } = loaded
  const step = stepOf('cluster', emit)
  const servers = config.machines.filter((m) => m.role === 'server')
  const agents = config.machines.filter((m) => m.role === 'agent')
  step(
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
      node.phase === 'init' ? 'init' : m.role === 'server' ? 'join-server' : 'join-agent',
      node.phase === 'init'
        ? 'initialises the cluster, unless a server already holds one'
        : `joins as ${m.role} through ${fresh.joinAddress}${m.role === 'server' ? ' (servers one at a time)' : ''}`,
      m.name,
    )
  }
  step('kubeconfig', `kubeconfig with server https://${config.cluster.endpoint}:6443`)
}

/** bootstrap: ArgoCD, the root app, and the Applications it would create. */
export async function planBootstrap({ loaded, repoRoot, emit }: PlanContext): Promise<void> {
  const { config } = loaded
  stepOf('bootstrap', emit)(
    'argocd',
    `ArgoCD, then the root app reading ${config.gitops.seed.url} @ ${config.gitops.seed.revision} until Gitea serves ${config.gitops.clusterRepo}`,
  )
  for (const app of await discoverApps(repoRoot)) {
    emit({ type: 'plan.app', layer: app.layer, name: app.name, namespace: app.namespace, source: app.source })
  }
}

/** external: the Cloudflare side, only with `external.cloudflare` (docs/external.md). */
export function planExternal({ loaded, emit }: PlanContext): void {
  const { config } = loaded
  const step = stepOf('external', emit)
  const cloudflare = config.external?.cloudflare
  if (cloudflare === undefined) {
    step('none', 'external.cloudflare is not set: nothing to do; the Gateway uses the self-signed issuer')
    return
  }
  const domain = config.gitops.domain
  const letsencrypt = config.external?.letsencrypt
  step(
    'cloudflare',
    `homelab external in zone ${cloudflare.zone}: tunnel ${tunnelName(domain)} routing *.${domain} to the shared Gateway, ` +
      `the CNAME *.${domain} to it, DNS tokens for external-dns and cert-manager (\`homelab external --plan\` lists the changes)`,
  )
  step(
    'certificates',
    letsencrypt === undefined
      ? 'no external.letsencrypt: the Gateway keeps the self-signed issuer'
      : `Let's Encrypt ${letsencrypt.server} for *.${domain} through DNS-01 in Cloudflare`,
  )
}
