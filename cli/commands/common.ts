/**
 * What several commands share: the state folder, paths as the user
 * would type them, and the cluster's kubeconfig.
 */
import { access } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { createKubeClient, type KubeClient, loadKubeconfig } from '../../lib/kube/index.ts'
import type { CommandContext } from '../command.ts'

export { show } from '../output/paths.ts'

/** --state DIR, or .state beside the config. */
export function stateDirOf(context: CommandContext): string {
  return typeof context.values.state === 'string'
    ? resolve(context.values.state)
    : join(dirname(resolve(context.configFile)), '.state')
}

/** The kubeconfig `homelab cluster` writes (0600, git-ignored). */
export function kubeconfigPathOf(context: CommandContext): string {
  return join(stateDirOf(context), 'kubeconfig')
}

/** The kubeconfig's path, or an error saying to build the cluster first. */
export async function existingKubeconfig(context: CommandContext, what: string): Promise<string> {
  const path = kubeconfigPathOf(context)
  try {
    await access(path)
  } catch {
    throw new Error(`${what}: ${path} does not exist yet (run \`homelab cluster\` first)`)
  }
  return path
}

/** A client for the cluster `homelab cluster` built. */
export async function kubeClientOf(context: CommandContext): Promise<KubeClient> {
  return createKubeClient(await loadKubeconfig(await existingKubeconfig(context, 'Cannot reach the cluster')))
}
