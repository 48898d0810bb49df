/**
 * Who initialises, who joins, and through which address: decided from what the servers hold,
 * never from the order of the list. This is what keeps a rebuilt server from starting a second
 * cluster (the seed's failure: cluster-init was tied to the first host of the inventory).
 *
 * - A server holding etcd data is a member: its membership lines are kept exactly as they are
 *   (k3s ignores them once it has data, and rewriting them would restart it for nothing).
 * - If some server is a member, nobody initialises: every other node joins.
 * - If no server is a member, one initialises: the server at the endpoint address when the
 *   endpoint is a server's IP (so the others can join through it), else the first server
 *   listed. When any server could not be probed, nothing is initialised: it may hold the cluster.
 * - Joins go through the endpoint when it is a VIP or a member's address, else through a member.
 */
import type { Machine } from '../../core/config/schema.ts'
import { apiUrl, type Membership, membershipOf } from './render.ts'
import { parseToken } from './token.ts'

/** What one node holds, read over SSH before anything is changed. */
export interface NodeFacts {
  /** `uname -m`. */
  readonly arch: string
  /** Servers: etcd data exists, so it is (or was) a member of a cluster. */
  readonly etcdMember: boolean
  /** The node has joined as a node before (k3s's agent data exists). */
  readonly agentData: boolean
  /** The k3s unit of its role is active. */
  readonly active: boolean
  /** Our config.yaml on the node, if any. */
  readonly configText: string | undefined
  /** Our token file on the node, if any. */
  readonly token: string | undefined
  /** The server token k3s keeps, if any (a cluster made without homelab). */
  readonly serverToken: string | undefined
  /** sha256 of /usr/local/bin/k3s, if present. */
  readonly binarySha256: string | undefined
  /** What `getenforce` says (Enforcing, Permissive, Disabled), or 'none' without SELinux. */
  readonly selinux?: string
  /** The k3s-selinux policy is installed (/usr/share/selinux/packages/k3s.pp, as install.sh checks). */
  readonly selinuxPolicy?: boolean
}

/** An installed machine holding nothing of k3s yet (what `homelab plan` assumes). */
export const FRESH_NODE: NodeFacts = {
  arch: 'x86_64',
  etcdMember: false,
  agentData: false,
  active: false,
  configText: undefined,
  token: undefined,
  serverToken: undefined,
  binarySha256: undefined,
}

export type NodePhase = 'member' | 'init' | 'join'

export interface PlannedNode {
  readonly machine: Machine
  readonly phase: NodePhase
  readonly membership: Membership
  /** A fresh node whose name the cluster may still list (a rebuild): checked before it joins. */
  readonly fresh: boolean
}

export interface ClusterPlan {
  readonly endpoint: string
  readonly endpointIsVip: boolean
  /** Servers that already hold the cluster, in config order. */
  readonly members: readonly string[]
  /** The server that starts a new cluster, when none exists. */
  readonly init: string | undefined
  /** The address joins (and this run's API calls) go through. */
  readonly joinAddress: string
  readonly nodes: readonly PlannedNode[]
}

export class ClusterPlanError extends Error {
  readonly code = 'HOMELAB_CLUSTER_PLAN'
  override name = 'ClusterPlanError'
}

export function endpointIsVip(machines: readonly Machine[], endpoint: string): boolean {
  return !machines.some((m) => m.ip === endpoint)
}

/**
 * `facts` holds every node that answered; a node missing from it could not be probed (it is
 * left out of the plan, and blocks initialising a cluster if it is a server).
 */
export function planCluster(
  machines: readonly Machine[],
  endpoint: string,
  facts: ReadonlyMap<string, NodeFacts>,
): ClusterPlan {
  const vip = endpointIsVip(machines, endpoint)
  const servers = machines.filter((m) => m.role === 'server')
  const members = servers.filter((m) => facts.get(m.name)?.etcdMember === true)
  let init: Machine | undefined
  if (members.length === 0) {
    const unprobed = servers.filter((m) => !facts.has(m.name))
    if (unprobed.length > 0) {
      throw new ClusterPlanError(
        `Cannot start a cluster: no reachable server holds one, but ${unprobed.map((m) => m.name).join(', ')} could not be checked and may hold it (starting a new one would split the cluster in two): make ${unprobed.length === 1 ? 'it' : 'them'} reachable over SSH and run again`,
      )
    }
    init = (vip ? undefined : servers.find((m) => m.ip === endpoint)) ?? servers[0]
  }
  const joinAddress =
    vip || members.some((m) => m.ip === endpoint) || members.length === 0
      ? endpoint
      : (members[0] as Machine).ip
  const nodes: PlannedNode[] = []
  for (const machine of machines) {
    const f = facts.get(machine.name)
    if (f === undefined) continue
    const join: Membership = { kind: 'join', server: apiUrl(joinAddress) }
    if (machine === init) {
      nodes.push({ machine, phase: 'init', membership: { kind: 'init' }, fresh: false })
    } else if (machine.role === 'server' && f.etcdMember) {
      const kept = f.configText === undefined ? undefined : membershipOf(f.configText)
      nodes.push({ machine, phase: 'member', membership: kept ?? join, fresh: false })
    } else if (machine.role === 'agent' && f.agentData && f.configText !== undefined) {
      nodes.push({ machine, phase: 'member', membership: membershipOf(f.configText) ?? join, fresh: false })
    } else {
      nodes.push({ machine, phase: 'join', membership: join, fresh: members.length > 0 })
    }
  }
  return {
    endpoint,
    endpointIsVip: vip,
    members: members.map((m) => m.name),
    init: init?.name,
    joinAddress,
    nodes,
  }
}

/**
 * The token this run uses: the one stored on the controller, else one a member holds (the
 * state folder was lost), else undefined (a new one is generated). A member holding a
 * different token than the controller is an error: one of them belongs to another cluster.
 */
export function chooseToken(
  stored: string | undefined,
  plan: ClusterPlan,
  facts: ReadonlyMap<string, NodeFacts>,
  tokenPath: string,
): { token: string | undefined; source: 'stored' | 'member' | 'new'; from?: string } {
  for (const name of plan.members) {
    const f = facts.get(name)
    const onNode = f?.token ?? f?.serverToken
    if (onNode === undefined) continue
    // Adopted as its secret: a joiner's token file holds the full form (K10<ca hash>::server:<secret>).
    if (stored === undefined)
      return { token: parseToken(onNode)?.secret ?? onNode, source: 'member', from: name }
    if (!sameToken(stored, onNode)) {
      throw new ClusterPlanError(
        `Cannot use the cluster token: ${tokenPath} does not match the token on ${name}, a member of the running cluster (was ${tokenPath} replaced or copied from another homelab?): move ${tokenPath} away and run again to adopt the cluster's token`,
      )
    }
    return { token: stored, source: 'stored' }
  }
  return stored === undefined ? { token: undefined, source: 'new' } : { token: stored, source: 'stored' }
}

/** k3s's full token (K10<ca hash>::server:<secret>) and the bare secret are the same token (token.ts). */
export function sameToken(a: string, b: string): boolean {
  const x = parseToken(a)
  const y = parseToken(b)
  return x !== undefined && y !== undefined && x.secret === y.secret
}
