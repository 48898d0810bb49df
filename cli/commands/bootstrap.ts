import { join } from 'node:path'
import { ensureArgocdManifest, pinArgocd, readUpstream } from '../../bootstrap/argocd/manifest.ts'
import { bootstrap as runBootstrap } from '../../bootstrap/bootstrap.ts'
import { clusterStatus } from '../../bootstrap/bootstrap-status.ts'
import { serviceProxyTransport, vaultClient } from '../../bootstrap/vault/api.ts'
import { ensureUnsealed, keysFile, readKeys } from '../../bootstrap/vault/unseal.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { BOOTSTRAP_ROWS } from '../output/bootstrap.ts'
import { waiting } from '../output/output.ts'
import { kubeClientOf, stateDirOf } from './common.ts'
import { loadAndReport } from './load-config.ts'

/** `--pin-argocd`: downloads the manifest and writes its sha256 into upstream.yaml. */
async function pin(context: CommandContext, cacheDir: string): Promise<boolean> {
  const upstream = await readUpstream()
  const pinned = await pinArgocd({ upstream, cacheDir })
  context.output.emit({
    type: 'bootstrap.pinned',
    version: upstream.version,
    url: upstream.url,
    file: upstream.file,
    ...pinned,
  })
  return true
}

function timeoutOf(context: CommandContext): { timeoutMs?: number } {
  const value = context.values.timeout
  if (value === undefined) return {}
  if (typeof value !== 'string' || !/^\d+$/.test(value))
    throw new UsageError('--timeout must be a whole number of seconds')
  return { timeoutMs: Number(value) * 1000 }
}

/** `homelab bootstrap`: ArgoCD and the root app; `--pin-argocd` records the manifest's digest. */
export const bootstrap: CommandRun = async (context) => {
  const cacheDir = join(context.repoRoot, '.cache', 'argocd')
  if (context.values['pin-argocd'] === true) return pin(context, cacheDir)
  const timeout = timeoutOf(context)
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const upstream = await readUpstream()
  // an unpinned manifest is refused before anything else is looked at
  if (upstream.sha256 === '') await ensureArgocdManifest({ upstream, cacheDir })
  const api = await kubeClientOf(context)
  const { output } = context
  output.board(BOOTSTRAP_ROWS.map(waiting))
  await runBootstrap({
    api,
    config: loaded.config,
    derived: loaded.derived,
    cacheDir,
    events: output.emit,
    ...timeout,
    signal: context.signal,
    vault: { stateDir: stateDirOf(context) },
  })
  output.text(
    'ArgoCD now deploys bootstrap/, system/, platform/ and apps/ from git: `homelab status` shows progress',
  )
  return true
}

/** `homelab status`: nodes, Applications (sync, health) and the routes' URLs. */
export const status: CommandRun = async (context) => {
  const api = await kubeClientOf(context)
  context.output.emit({ type: 'status', ...(await clusterStatus(api)) })
  await unsealIfSealed(context, api)
  return true
}

/** Vault restarted (sealed) and bootstrap kept its keys: unseal it, as `homelab vault unseal` would. */
async function unsealIfSealed(
  context: Parameters<CommandRun>[0],
  api: Awaited<ReturnType<typeof kubeClientOf>>,
) {
  const stateDir = stateDirOf(context)
  if ((await readKeys(keysFile(stateDir))) === undefined) return
  const vault = vaultClient(serviceProxyTransport(api))
  const status = await vault.sealStatus().catch(() => undefined)
  if (status === undefined || !status.initialized || !status.sealed) return
  await ensureUnsealed({ vault, stateDir, init: false })
  context.output.text('vault: it was sealed (restarted?): unsealed with the keys in .state/vault')
}
