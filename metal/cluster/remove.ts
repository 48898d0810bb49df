/**
 * `homelab node remove NAME`: refuse a server whose removal would break etcd quorum; cordon,
 * drain, delete the Node and wait until the API no longer lists it (k3s removes the etcd member
 * in the Node's finalizer, so k3s must still run); then, over SSH, k3s's own way of leaving a
 * machine: the killall and uninstall scripts (scripts.ts). Safe to run again after any partial
 * failure: a node being deleted is waited for, one already gone is not drained, and the scripts
 * remove whatever is left.
 */
import type { Config, Machine } from '../../core/config/schema.ts'
import {
  type DrainEvent,
  deleteNode,
  drain,
  type KubeClient,
  listNodes,
  type NodeStatus,
} from '../../lib/kube/index.ts'
import { connectSsh, SSH_DEFAULTS } from '../../lib/ssh/index.ts'
import { readState } from '../provision/state.ts'
import { knownHostKey } from './cluster.ts'
import { uninstallNode } from './node.ts'
import { uninstallScript } from './scripts.ts'
import { boundedSession, waitNodeGone } from './wait.ts'

export type RemoveEvent =
  | DrainEvent
  | { readonly type: 'remove.step'; readonly node: string; readonly step: string; readonly detail: string }

export interface RemoveOptions {
  readonly config: Config
  readonly name: string
  readonly api: KubeClient
  readonly stateDir: string
  readonly privateKey: Buffer
  readonly drainTimeoutMs: number
  readonly events: (event: RemoveEvent) => void
  readonly sshRetries?: number
  /** How long the deleted Node may take to go. @default WAIT_DEFAULTS.nodeGoneMs */
  readonly nodeGoneTimeoutMs?: number
  readonly pollMs?: number
}

export class RemoveError extends Error {
  readonly code = 'HOMELAB_NODE_REMOVE'
  override name = 'RemoveError'
}

/** Refuses removals that would break the cluster; returns the machine otherwise. */
export function checkRemoval(config: Config, name: string): Machine {
  const machine = config.machines.find((m) => m.name === name)
  if (machine === undefined) {
    throw new RemoveError(
      `Cannot remove ${name}: it is not in homelab.yaml's machines (${config.machines.map((m) => m.name).join(', ')}); remove a node while it is still listed, then delete it from the file`,
    )
  }
  if (machine.role === 'server' && config.machines.filter((m) => m.role === 'server').length === 1) {
    throw new RemoveError(
      `Cannot remove ${name}: it is the only server, and the cluster would be lost with it`,
    )
  }
  return machine
}

/**
 * The etcd quorum rule for removing a server: etcd commits a change only with a majority of its
 * members, floor(n/2)+1 of n. While a server leaves, its member is still one of the n, and its
 * k3s may stop before the removal commits; so the other servers, Ready, must be a majority of n
 * on their own. With 2 servers that is 2 of 2 others: never; with 3, both others Ready.
 */
export function quorumAllowsRemoval(servers: readonly NodeStatus[], name: string): string | undefined {
  const n = servers.length
  const majority = Math.floor(n / 2) + 1
  const others = servers.filter((s) => s.name !== name)
  const ready = others.filter((s) => s.ready)
  if (ready.length >= majority) return undefined
  const notReady = others.filter((s) => !s.ready).map((s) => s.name)
  return `Cannot remove ${name}: etcd needs a majority of its ${n} members (${majority}) to commit the removal without ${name}, and only ${ready.length} other server${ready.length === 1 ? ' is' : 's are'} Ready${notReady.length > 0 ? ` (not Ready: ${notReady.join(', ')})` : ''}; add a server first (homelab.yaml, then homelab cluster)${notReady.length > 0 ? ', or bring the others back' : ''}, then remove ${name}`
}

export async function removeNode(options: RemoveOptions): Promise<void> {
  const machine = checkRemoval(options.config, options.name)
  const step = (s: string, detail: string) =>
    options.events({ type: 'remove.step', node: machine.name, step: s, detail })
  const path = `/api/v1/nodes/${encodeURIComponent(machine.name)}`
  const listed = (await options.api.get(path)) as { metadata?: { deletionTimestamp?: string } } | undefined
  if (machine.role === 'server' && listed !== undefined) {
    const servers = (await listNodes(options.api)).filter((n) => n.roles.includes('control-plane'))
    const refusal = quorumAllowsRemoval(servers, machine.name)
    if (refusal !== undefined) throw new RemoveError(refusal)
  }
  if (listed === undefined) {
    step('drain', 'the cluster does not list it (already removed): nothing to drain')
  } else {
    if (listed.metadata?.deletionTimestamp === undefined) {
      await drain(options.api, machine.name, { timeoutMs: options.drainTimeoutMs, onEvent: options.events })
      await deleteNode(options.api, machine.name)
    }
    // k3s removes a server's etcd member in the Node's finalizer: k3s must run until the Node is gone.
    await waitNodeGone(options.api, machine.name, {
      ...(options.nodeGoneTimeoutMs === undefined ? {} : { timeoutMs: options.nodeGoneTimeoutMs }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    })
    step('delete', 'deleted from the cluster (the API no longer lists it)')
  }
  const state = await readState(options.stateDir)
  const known = knownHostKey(state.machines[machine.name], machine)
  const session = await connectSsh({
    host: machine.ip,
    privateKey: options.privateKey,
    ...(known === undefined ? {} : { knownHostKey: known }),
    retries: options.sshRetries ?? SSH_DEFAULTS.retries,
  }).catch((error: Error) => {
    throw new RemoveError(
      `Removed ${machine.name} from the cluster, but cannot uninstall k3s from it: ${error.message} (run \`homelab node remove ${machine.name}\` again once it is reachable, or reinstall it)`,
      { cause: error },
    )
  })
  try {
    await uninstallNode(boundedSession(session), machine.role).catch((error: Error) => {
      throw new RemoveError(
        `Removed ${machine.name} from the cluster, but the uninstall on it failed: ${error.message} (run \`homelab node remove ${machine.name}\` again: it starts where this one stopped)`,
        { cause: error },
      )
    })
  } finally {
    await session.close()
  }
  step(
    'uninstall',
    `${uninstallScript(machine.role)}: k3s stopped with its containers, mounts and network links, and removed with its data and files`,
  )
}
