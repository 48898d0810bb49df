import { dirname, join, resolve } from 'node:path'
import { buildCluster } from '../../metal/cluster/cluster.ts'
import { CLUSTER_DEFAULTS } from '../../metal/cluster/defaults.ts'
import { checkRemoval, removeNode } from '../../metal/cluster/remove.ts'
import { readPrivateKey } from '../../metal/os/ssh-keys.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { waiting } from '../output/output.ts'
import { existingKubeconfig, kubeClientOf, kubeconfigPathOf, stateDirOf } from './common.ts'
import { loadAndReport } from './load-config.ts'

function seconds(context: CommandContext, name: string, fallback: number): number {
  const value = context.values[name]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a whole number of seconds`)
  return Number(value)
}

function count(context: CommandContext, name: string, fallback: number, min: number): number {
  const value = context.values[name]
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}`)
  }
  return Number(value)
}

/** `homelab cluster`: the k3s cluster over SSH, converged; one live line per node. */
export const cluster: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const { config } = loaded
  const { output } = context
  const kubeconfigPath = kubeconfigPathOf(context)
  const options = {
    readyTimeoutMs: seconds(context, 'ready-timeout', CLUSTER_DEFAULTS.readyTimeoutMs / 1000) * 1000,
    parallel: count(context, 'parallel', CLUSTER_DEFAULTS.parallel, 1),
    sshRetries: count(context, 'ssh-retries', CLUSTER_DEFAULTS.sshRetries, 0),
  }
  const privateKey = await readPrivateKey(config, dirname(resolve(loaded.file)))
  output.board(config.machines.map((m) => waiting(m.name)))
  const outcomes = await buildCluster({
    config,
    stateDir: stateDirOf(context),
    cacheDir: join(context.repoRoot, '.cache', 'k3s'),
    privateKey,
    kubeconfigPath,
    events: output.emit,
    ...options,
    signal: context.signal,
  })
  const ok = outcomes.every((o) => o.result === 'changed' || o.result === 'unchanged')
  if (ok) output.text(`\nthe cluster is ready: export KUBECONFIG=${kubeconfigPath}`)
  return ok
}

/** `homelab kubeconfig`: the line to paste into a shell. */
export const kubeconfig: CommandRun = async (context) => {
  const path = await existingKubeconfig(context, 'Cannot find the kubeconfig')
  context.output.emit({ type: 'kubeconfig', path })
  return true
}

/** `homelab node remove NAME`. */
export const node: CommandRun = async (context) => {
  const [sub, name, ...rest] = context.positionals
  if (sub !== 'remove' || name === undefined || rest.length > 0) {
    throw new UsageError('usage: homelab node remove NAME')
  }
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const { config } = loaded
  checkRemoval(config, name)
  const api = await kubeClientOf(context)
  await removeNode({
    config,
    name,
    api,
    stateDir: stateDirOf(context),
    privateKey: await readPrivateKey(config, dirname(resolve(loaded.file))),
    drainTimeoutMs: seconds(context, 'drain-timeout', CLUSTER_DEFAULTS.drainTimeoutMs / 1000) * 1000,
    sshRetries: count(context, 'ssh-retries', CLUSTER_DEFAULTS.sshRetries, 0),
    events: context.output.emit,
  })
  context.output.text(
    `${name} is out of the cluster: now delete it from homelab.yaml, or the next \`homelab cluster\` joins it again`,
  )
  return true
}
