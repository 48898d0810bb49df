import { dirname, join, resolve } from 'node:path'
import { buildCluster, type ClusterEvent } from '../../metal/cluster/cluster.ts'
import { checkRemoval, type RemoveEvent, removeNode } from '../../metal/cluster/remove.ts'
import { readPrivateKey } from '../../metal/os/ssh-keys.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { createLiveBoard } from '../live.ts'
import { existingKubeconfig, kubeClientOf, kubeconfigPathOf, show, stateDirOf, writer } from './common.ts'
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
  const configDir = dirname(resolve(loaded.file))
  const stateDir = stateDirOf(context)
  const kubeconfigPath = kubeconfigPathOf(context)
  const readyTimeout = seconds(context, 'ready-timeout', 600)
  const parallel = count(context, 'parallel', 4, 1)
  const sshRetries = count(context, 'ssh-retries', 5, 0)
  const { print, json } = writer(context)
  const privateKey = await readPrivateKey(config, configDir)
  const started = Date.now()
  const board = createLiveBoard(
    process.stdout,
    config.machines.map((m) => m.name),
    print,
    started,
  )
  const { update, note } = board
  const abort = new AbortController()
  const stop = () => abort.abort()
  process.once('SIGINT', stop)
  const onEvent = (event: ClusterEvent) => {
    json(event)
    if (context.json) return
    switch (event.type) {
      case 'cluster.plan': {
        const p = event.plan
        print(
          `endpoint ${p.endpoint}${p.endpointIsVip ? ' (virtual IP, kube-vip)' : ''}; ` +
            (p.init !== undefined
              ? `no server holds a cluster: ${p.init} initialises it`
              : `the cluster is held by ${p.members.join(', ')}`) +
            `; joins go through ${p.joinAddress}`,
        )
        return
      }
      case 'cluster.token':
        note(
          event.source === 'new'
            ? 'token: generated (32 characters), stored 0600 in the state folder'
            : event.source === 'member'
              ? `token: read back from ${event.from} (the state folder had none)`
              : 'token: the stored one',
        )
        return
      case 'cluster.download':
        note(event.detail)
        return
      case 'node.step':
        update(
          event.node,
          event.step,
          event.status === 'running'
            ? (event.detail ?? '...')
            : `${event.status}${event.detail === undefined ? '' : `: ${event.detail}`}`,
        )
        return
      case 'node.failed':
        update(event.node, 'FAILED', `at ${event.step}`)
        note(`${event.node}: failed at step "${event.step}": ${event.message}`)
        return
      case 'node.rebuilt':
        note(`${event.node}: ${event.detail}`)
        return
      case 'node.waiting':
        update(event.node, 'ready?', event.lastSeen)
        return
      case 'node.ready':
        update(event.node, 'Ready', 'the API reports it Ready')
        return
      case 'kubeconfig.written':
        note(`kubeconfig: ${show(event.path)} (${event.changed ? 'written' : 'unchanged'}, 0600)`)
        return
      case 'cluster.summary': {
        board.stop()
        print('\nsummary')
        const rows = [
          ['NODE', 'ROLE', 'RESULT', 'DETAIL'],
          ...event.nodes.map((n) => [n.node, n.role, n.result, n.detail]),
        ]
        const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
        for (const r of rows)
          print(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`)
        return
      }
    }
  }
  try {
    const outcomes = await buildCluster({
      config,
      stateDir,
      cacheDir: join(context.repoRoot, '.cache', 'k3s'),
      privateKey,
      kubeconfigPath,
      events: onEvent,
      parallel,
      sshRetries,
      readyTimeoutMs: readyTimeout * 1000,
      signal: abort.signal,
    })
    const ok = outcomes.every((o) => o.result === 'changed' || o.result === 'unchanged')
    if (ok) print(`\nthe cluster is ready: export KUBECONFIG=${kubeconfigPath}`)
    return ok
  } finally {
    process.off('SIGINT', stop)
  }
}

/** `homelab kubeconfig`: the line to paste into a shell. */
export const kubeconfig: CommandRun = async (context) => {
  const path = await existingKubeconfig(context, 'Cannot find the kubeconfig')
  if (context.json) process.stdout.write(`${JSON.stringify({ type: 'kubeconfig', path })}\n`)
  else process.stdout.write(`export KUBECONFIG=${path}\n`)
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
  const { print, json } = writer(context)
  await removeNode({
    config,
    name,
    api,
    stateDir: stateDirOf(context),
    privateKey: await readPrivateKey(config, dirname(resolve(loaded.file))),
    drainTimeoutMs: seconds(context, 'drain-timeout', 300) * 1000,
    sshRetries: count(context, 'ssh-retries', 5, 0),
    events: (event: RemoveEvent) => {
      json(event)
      switch (event.type) {
        case 'remove.step':
          print(`${event.node}: ${event.step}: ${event.detail}`)
          return
        case 'drain.cordoned':
          print(`${event.node}: cordoned (no new pods)`)
          return
        case 'drain.evicting':
          print(`${event.node}: evicting ${event.pod}`)
          return
        case 'drain.blocked':
          print(
            `${event.node}: ${event.pod} not evicted yet (${event.message}); retrying in ${event.delayMs} ms`,
          )
          return
        case 'drain.done':
          print(`${event.node}: drained (${event.evicted} pods evicted)`)
          return
        default:
          return
      }
    },
  })
  print(
    `${name} is out of the cluster: now delete it from homelab.yaml, or the next \`homelab cluster\` joins it again`,
  )
  return true
}
