import { dirname, join, resolve } from 'node:path'
import { TEST_OS } from '../../core/config/schema.ts'
import { ensureIso } from '../../metal/os/iso.ts'
import { doctor } from '../../metal/provision/doctor.ts'
import {
  DEFAULT_TIMEOUTS,
  type ProvisionEvent,
  provision,
  type StageTimeouts,
} from '../../metal/provision/provision.ts'
import { type CommandRun, UsageError } from '../command.ts'
import { createLiveLines, type LiveLines } from '../live.ts'
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

function formatSeconds(s: number | undefined): string {
  return s === undefined ? '-' : `${s.toFixed(1)}s`
}

/** `homelab metal`: preflight, then install the machines that need it, with one live line each. */
export const metal: CommandRun = async (context) => {
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const { config, derived } = loaded
  const configDir = dirname(resolve(loaded.file))
  const cacheDir = join(context.repoRoot, '.cache')
  const stateDir = stateDirOf(context)
  const reinstall = (context.values.reinstall as string[] | undefined) ?? []
  const timeouts = parseTimeouts(context.values.timeout)
  const out = process.stdout
  const print = (line: string) => {
    if (!context.json) out.write(`${line}\n`)
  }
  const json = (event: unknown) => {
    if (context.json) out.write(`${JSON.stringify(event)}\n`)
  }

  if (context.values['skip-doctor'] !== true) {
    print('preflight (homelab doctor)')
    const ok = await doctor({
      config,
      derived,
      isoStatus: isoStatus(config, context.repoRoot),
      emit: (check) => {
        json(check)
        if (check.status !== 'ok')
          print(
            `  ${check.status === 'fail' ? '✗' : '!'} ${check.check}: ${check.detail}${check.fix === undefined ? '' : `\n    fix: ${check.fix}`}`,
          )
      },
    })
    if (!ok) {
      print('preflight failed: fix the problems above, then run again (nothing was booted)')
      return false
    }
  }

  let isoPath: string
  if (config.os.iso === TEST_OS) {
    print('installer: the offline test OS (not Fedora), built from Debian packages')
    const { buildTestOs } = await import('../../lab/testos/build.ts')
    isoPath = (await buildTestOs({ cacheDir, progress: (m) => print(`  ${m}`) })).isoPath
  } else {
    const iso = config.os.iso
    print(`installer: ${iso.url}`)
    isoPath = await ensureIso({
      url: iso.url,
      sha256: iso.sha256,
      cacheDir: join(cacheDir, 'iso'),
      progress: (e) => {
        json(e)
        if (e.type === 'iso.download')
          print(
            `  downloading: ${(e.received / 2 ** 20).toFixed(0)} MiB${e.total === undefined ? '' : ` of ${(e.total / 2 ** 20).toFixed(0)} MiB`}`,
          )
        if (e.type === 'iso.verify') print('  verifying sha256')
      },
    })
  }

  const abort = new AbortController()
  const stop = () => abort.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  let live: LiveLines | undefined
  let provisionStarted = Date.now()
  const verbose = context.values.verbose === true
  const onEvent = (event: ProvisionEvent) => {
    json(event)
    if (context.json) return
    switch (event.type) {
      case 'machine.target':
      case 'machine.skipped':
      case 'machine.refused':
        print(
          `${event.machine}: ${event.type === 'machine.target' ? 'to install' : event.type === 'machine.skipped' ? 'skipped' : 'REFUSED'}: ${event.reason}`,
        )
        return
      case 'machine.progress':
        live ??= createLiveLines(out, [event.state], provisionStarted)
        live.update(event.state)
        return
      case 'machine.stalled':
        live?.note(
          `${event.machine}: stalled in ${event.stage} for ${event.seconds} s; last seen: ${event.lastSeen}\n  check: ${event.check}`,
        )
        return
      case 'pxe.warning':
        live?.note(`warning: ${event.service}: ${event.message}`) ??
          print(`warning: ${event.service}: ${event.message}`)
        return
      case 'dhcp.ignored':
        if (verbose) live?.note(`ignored ${event.mac}: ${event.reason}`)
        return
      case 'metal.summary': {
        live?.stop()
        print('\nsummary')
        const rows = [
          ['MACHINE', 'ADDRESS', 'RESULT', 'DHCP', 'LOADER', 'KERNEL', 'INSTALLED', 'SSH', 'DETAIL'],
          ...event.machines.map((m) => [
            m.machine,
            m.ip,
            m.result,
            formatSeconds(m.stages.dhcp),
            formatSeconds(m.stages['boot-loader']),
            formatSeconds(m.stages.kernel),
            formatSeconds(m.stages.installed),
            formatSeconds(m.stages['ssh-ready']),
            m.detail,
          ]),
        ]
        const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
        for (const r of rows)
          print(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`)
        return
      }
      default:
        return
    }
  }
  // The live lines and the summary count seconds from the same moment.
  provisionStarted = Date.now()
  try {
    const rows = await provision({
      config,
      derived,
      configDir,
      stateDir,
      isoPath,
      reinstall,
      timeouts,
      events: onEvent,
      signal: abort.signal,
      ...(typeof context.values['kernel-args'] === 'string'
        ? { kernelArgs: context.values['kernel-args'] }
        : {}),
    })
    const installed = rows.every((r) => r.result === 'installed' || r.result === 'skipped')
    if (!installed || context.values['skip-cluster'] === true) return installed
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  print('\ncluster (homelab cluster)')
  return (await import('./cluster.ts')).cluster(context)
}
