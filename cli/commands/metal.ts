import { dirname, join, resolve } from 'node:path'
import type { LoadedConfig } from '../../core/config/load.ts'
import { TEST_OS } from '../../core/config/schema.ts'
import { ensureIso } from '../../metal/os/iso.ts'
import { doctor } from '../../metal/provision/doctor.ts'
import { DEFAULT_TIMEOUTS, provision, type StageTimeouts } from '../../metal/provision/provision.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'
import { stateDirOf } from './common.ts'
import { isoStatus } from './iso-status.ts'
import { loadAndReport } from './load-config.ts'

function parseTimeouts(values: unknown): Partial<StageTimeouts> {
  const out: Record<string, number> = {}
  for (const item of (values as string[] | undefined) ?? []) {
    const [stage, seconds] = item.split('=')
    if (stage === undefined || !(stage in DEFAULT_TIMEOUTS) || !/^\d+$/.test(seconds ?? '')) {
      throw new UsageError(
        `--timeout "${item}" is not STAGE=SECONDS with STAGE one of ${Object.keys(DEFAULT_TIMEOUTS).join(', ')}`,
      )
    }
    out[stage] = Number(seconds)
  }
  return out
}

/** homelab doctor before anything boots; false when a check fails. */
async function preflight(context: CommandContext, loaded: LoadedConfig): Promise<boolean> {
  const { output } = context
  output.text('preflight (homelab doctor)')
  const ok = await doctor({
    config: loaded.config,
    derived: loaded.derived,
    isoStatus: isoStatus(loaded.config, context.repoRoot),
    emit: output.emit,
  })
  if (!ok) output.text('preflight failed: fix the problems above, then run again (nothing was booted)')
  return ok
}

/** The installer ISO's path: the pinned Fedora ISO (downloaded once, verified), or the test OS. */
async function installerIso(context: CommandContext, loaded: LoadedConfig): Promise<string> {
  const { output } = context
  const cacheDir = join(context.repoRoot, '.cache')
  const iso = loaded.config.os.iso
  if (iso === TEST_OS) {
    output.text('installer: the offline test OS (not Fedora), built from Debian packages')
    const { buildTestOs } = await import('../../lab/testos/build.ts')
    return (await buildTestOs({ cacheDir, progress: (m) => output.text(`  ${m}`) })).isoPath
  }
  output.text(`installer: ${iso.url}`)
  return ensureIso({
    url: iso.url,
    sha256: iso.sha256,
    cacheDir: join(cacheDir, 'iso'),
    progress: output.emit,
  })
}

/**
 * `homelab metal`: preflight, then install the machines that need it, with one live line each.
 * The cluster is the next step of the flow (`homelab up`, flow/flow.ts), not part of this one.
 */
export const metal: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const timeouts = parseTimeouts(context.values.timeout)
  if (context.values['skip-doctor'] !== true && !(await preflight(context, loaded))) return false
  const isoPath = await installerIso(context, loaded)
  const { output } = context
  output.setVerbose(context.values.verbose === true)
  // The live lines and the summary count seconds from the same moment.
  output.board([])
  const rows = await provision({
    config: loaded.config,
    derived: loaded.derived,
    configDir: dirname(resolve(loaded.file)),
    stateDir: stateDirOf(context),
    isoPath,
    reinstall: (context.values.reinstall as string[] | undefined) ?? [],
    timeouts,
    events: output.emit,
    signal: context.signal,
    ...(typeof context.values['kernel-args'] === 'string'
      ? { kernelArgs: context.values['kernel-args'] }
      : {}),
  })
  return rows.every((r) => r.result === 'installed' || r.result === 'skipped')
}
