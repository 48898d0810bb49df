import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { summarize } from '../../core/config/summary.ts'
import type { CommandRun } from '../command.ts'
import { loadAndReport } from './load-config.ts'

export const validate: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const key = loaded.config.os.sshPublicKey
  const keyPath = key.startsWith('~/') ? resolve(homedir(), key.slice(2)) : resolve(dirname(loaded.file), key)
  if (!existsSync(keyPath)) {
    context.emit({
      type: 'config.diagnostic',
      severity: 'warning',
      file: loaded.file,
      ...loaded.locate(['os', 'sshPublicKey']),
      field: 'os.sshPublicKey',
      message: `"${key}" does not exist yet (${key.startsWith('.state/lab/') ? 'the lab makes it: `homelab lab up`' : `create it: \`ssh-keygen -t ed25519 -f ${keyPath.replace(/\.pub$/, '')}\``})`,
    })
  }
  const componentsOk = await validateComponentFolders(context, loaded)
  context.emit(summarize(loaded))
  return componentsOk
}

/**
 * The component folders (docs/gitops.md), checked with the settings from this config and rendered by
 * real Helm: one diagnostic per problem, and a warning for each upstream chart left out (not cached).
 * With --fetch, the pinned upstream archives are downloaded (verified, cached) first.
 */
async function validateComponentFolders(
  context: Parameters<CommandRun>[0],
  loaded: NonNullable<Awaited<ReturnType<typeof loadAndReport>>>,
): Promise<boolean> {
  const { clusterSettings } = await import('../../bootstrap/settings.ts')
  const { validateComponents } = await import('../../bootstrap/validate/components.ts')
  const { CHART_CACHE } = await import('../../bootstrap/validate/charts.ts')
  let settings: ReturnType<typeof clusterSettings>
  try {
    settings = clusterSettings(loaded.config, loaded.derived, loaded.config.gitops.seed.url)
  } catch (cause) {
    context.emit({ type: 'error', message: (cause as Error).message })
    return false
  }
  const fetch = context.values.fetch === true
  // HOMELAB_CHART_CACHE: another folder for the upstream archives (tests use an empty one).
  const chartCache = process.env.HOMELAB_CHART_CACHE
  const { problems, notRendered } = await validateComponents(context.repoRoot, settings, undefined, {
    fetch,
    ...(chartCache === undefined || chartCache === '' ? {} : { chartCache }),
  })
  for (const problem of problems) {
    const located = /^(.*):(\d+)$/.exec(problem.file)
    context.emit({
      type: 'config.diagnostic',
      severity: 'error',
      file: join(context.repoRoot, located?.[1] ?? problem.file),
      line: located === null ? 0 : Number(located[2]),
      column: located === null ? 0 : 1,
      field: '',
      message: problem.message,
    })
  }
  for (const { folder, dependency } of notRendered) {
    context.emit({
      type: 'config.diagnostic',
      severity: 'warning',
      file: join(context.repoRoot, folder.path, 'Chart.yaml'),
      line: 0,
      column: 0,
      field: '',
      message: dependency.repository.startsWith('oci://')
        ? `the upstream chart ${dependency.name} ${dependency.version} was not rendered (an oci:// chart is not fetched: no index.yaml gives its digest); our templates were`
        : fetch
          ? `the upstream chart ${dependency.name} ${dependency.version} was not rendered (its archive could not be fetched: see the error); our templates were`
          : `the upstream chart ${dependency.name} ${dependency.version} was not rendered (no verified archive in ${chartCache || CHART_CACHE}); our templates were: \`homelab validate --fetch\` downloads it`,
    })
  }
  return problems.length === 0
}
