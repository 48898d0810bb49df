/**
 * `homelab node remove NAME`: cordon, drain, delete the node from the cluster, then uninstall
 * k3s from the machine over SSH. Safe to run again: a node the cluster no longer lists is not
 * drained twice, and the uninstall removes whatever is left.
 */
import type { Config, Machine } from '../../core/config/schema.ts'
import { type DrainEvent, deleteNode, drain, type KubeClient } from '../../lib/kube/index.ts'
import { connectSsh, SSH_DEFAULTS } from '../../lib/ssh/index.ts'
import { readState } from '../provision/state.ts'
import { knownHostKey } from './cluster.ts'
import { uninstallNode } from './node.ts'

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

export async function removeNode(options: RemoveOptions): Promise<void> {
  const machine = checkRemoval(options.config, options.name)
  const step = (s: string, detail: string) =>
    options.events({ type: 'remove.step', node: machine.name, step: s, detail })
  const path = `/api/v1/nodes/${encodeURIComponent(machine.name)}`
  if ((await options.api.get(path)) === undefined) {
    step('drain', 'the cluster does not list it (already removed): nothing to drain')
  } else {
    await drain(options.api, machine.name, { timeoutMs: options.drainTimeoutMs, onEvent: options.events })
    await deleteNode(options.api, machine.name)
    step('delete', 'deleted from the cluster')
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
    await uninstallNode(session, machine.role)
  } finally {
    await session.close()
  }
  step('uninstall', 'k3s stopped and removed, with its data and files')
}
