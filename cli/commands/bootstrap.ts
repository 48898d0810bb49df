import { join } from 'node:path'
import { ensureArgocdManifest, pinArgocd, readUpstream } from '../../bootstrap/argocd/manifest.ts'
import { type BootstrapEvent, bootstrap as runBootstrap } from '../../bootstrap/bootstrap.ts'
import { clusterStatus } from '../../bootstrap/bootstrap-status.ts'
import { type CommandRun, UsageError } from '../command.ts'
import { createLiveBoard } from '../live.ts'
import { kubeClientOf, writer } from './common.ts'
import { loadAndReport } from './load-config.ts'

const ROW: Record<string, 'argocd' | 'root'> = {
  manifest: 'argocd',
  namespace: 'argocd',
  crds: 'argocd',
  established: 'argocd',
  install: 'argocd',
  available: 'argocd',
  source: 'root',
  root: 'root',
}

/** `homelab bootstrap`: ArgoCD and the root app; `--pin-argocd` records the manifest's digest. */
export const bootstrap: CommandRun = async (context) => {
  const { print, json } = writer(context)
  const cacheDir = join(context.repoRoot, '.cache', 'argocd')
  if (context.values['pin-argocd'] === true) {
    const upstream = await readUpstream()
    const pinned = await pinArgocd({ upstream, cacheDir })
    json({ type: 'bootstrap.pinned', version: upstream.version, url: upstream.url, ...pinned })
    print(`ArgoCD ${upstream.version}: ${upstream.url}`)
    print(`sha256 ${pinned.sha256} (${pinned.bytes} bytes, cached in ${pinned.path})`)
    print(
      pinned.changed
        ? `written to ${upstream.file}: review the change (git diff), then commit it`
        : `${upstream.file} already pins this digest`,
    )
    return true
  }
  const value = context.values.timeout
  if (value !== undefined && (typeof value !== 'string' || !/^\d+$/.test(value)))
    throw new UsageError('--timeout must be a whole number of seconds')
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const upstream = await readUpstream()
  // an unpinned manifest is refused before anything else is looked at
  if (upstream.sha256 === '') await ensureArgocdManifest({ upstream, cacheDir })
  const api = await kubeClientOf(context)
  const started = Date.now()
  const board = createLiveBoard(process.stdout, ['argocd', 'root'], print, started)
  const { update, note } = board
  const abort = new AbortController()
  const stop = () => abort.abort()
  process.once('SIGINT', stop)
  const onEvent = (event: BootstrapEvent) => {
    json(event)
    if (context.json) return
    switch (event.type) {
      case 'bootstrap.step':
        update(ROW[event.step] ?? 'argocd', event.step, event.detail)
        return
      case 'bootstrap.download':
        update('argocd', 'manifest', event.detail)
        return
      case 'bootstrap.waiting':
        update(
          'argocd',
          event.step,
          `waiting for ${event.pending.map((p) => `${p.name} (${p.lastSeen})`).join(', ')}`,
        )
        return
      case 'bootstrap.object':
        if (event.result !== 'unchanged' || event.step === 'root')
          note(`${event.kind} ${event.namespace ? `${event.namespace}/` : ''}${event.name}: ${event.result}`)
        return
      case 'bootstrap.source':
        note(`root app source: ${event.source} ${event.repoURL} (${event.detail})`)
        return
      case 'bootstrap.summary':
        board.stop()
        print(
          `\nArgoCD ${event.version}: ${event.created} created, ${event.changed} changed, ${event.unchanged} unchanged; ` +
            `root app ${event.root}, following ${event.repoURL}`,
        )
        return
      default:
        return
    }
  }
  try {
    await runBootstrap({
      api,
      config: loaded.config,
      derived: loaded.derived,
      cacheDir,
      events: onEvent,
      ...(value === undefined ? {} : { timeoutMs: Number(value) * 1000 }),
      signal: abort.signal,
    })
    print(
      'ArgoCD now deploys bootstrap/, system/, platform/ and apps/ from git: `homelab status` shows progress',
    )
    return true
  } finally {
    board.stop()
    process.off('SIGINT', stop)
  }
}

/** `homelab status`: nodes, Applications (sync, health) and ingress URLs. */
export const status: CommandRun = async (context) => {
  const { print, json } = writer(context)
  const api = await kubeClientOf(context)
  const s = await clusterStatus(api)
  json({ type: 'status', ...s })
  const table = (rows: string[][]) => {
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
    for (const r of rows)
      print(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`)
  }
  print('nodes')
  table([['NAME', 'ROLES', 'STATUS'], ...s.nodes.map((n) => [n.name, n.roles.join(',') || '-', n.detail])])
  print('\napplications')
  if (s.applications === undefined) print('  ArgoCD is not installed (run `homelab bootstrap`)')
  else if (s.applications.length === 0) print('  none yet')
  else table([['NAME', 'SYNC', 'HEALTH'], ...s.applications.map((a) => [a.name, a.sync, a.health])])
  print('\nurls')
  if (s.urls.length === 0) print('  no ingress yet')
  for (const u of s.urls) print(`  ${u}`)
  return true
}
