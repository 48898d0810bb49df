/** How metal's events look for people: preflight checks, the ISO, the PXE server, each machine. */
import { formatSummaryTable } from '../../core/log/table.ts'
import type { IsoProgress } from '../../metal/os/iso.ts'
import type { DoctorCheck } from '../../metal/provision/doctor.ts'
import type { MachineSummaryRow, ProvisionEvent } from '../../metal/provision/provision.ts'
import { line, note, type Renderers, row } from './shown.ts'

export type MetalEvent = ProvisionEvent | DoctorCheck | IsoProgress

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const
const MIB = 2 ** 20

function formatSeconds(s: number | undefined): string {
  return s === undefined ? '-' : `${s.toFixed(1)}s`
}

/** The log tail of each failed installer that sent one, after the table (already sanitised). */
function _logTails(machines: readonly MachineSummaryRow[]): string[] {
  return machines.flatMap((m) =>
    m.log === undefined || m.log.length === 0
      ? []
      : [
          '',
          `${m.machine}: the installer's log (last ${m.log.length} lines):`,
          ...m.log.map((l) => `  | ${l}`),
        ],
  )
}

export function metalSummary(machines: readonly MachineSummaryRow[]): string[] {
  const table = formatSummaryTable(
    'summary',
    ['MACHINE', 'ADDRESS', 'RESULT', 'DHCP', 'LOADER', 'KERNEL', 'INSTALLED', 'SSH', 'DETAIL'],
    machines.map((m) => [
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
  )
  return [...table, ..._logTails(machines)]
}

export const METAL: Renderers<MetalEvent> = {
  'doctor.check': (c) => [
    line(`${MARK[c.status]} ${c.check.padEnd(16)} ${c.detail}`),
    ...(c.fix === undefined ? [] : [line(`  ${''.padEnd(16)} fix: ${c.fix}`)]),
  ],
  'iso.download': (e) => [
    line(
      `  downloading: ${(e.received / MIB).toFixed(0)} MiB${e.total === undefined ? '' : ` of ${(e.total / MIB).toFixed(0)} MiB`}`,
    ),
  ],
  'iso.verify': () => [line('  verifying sha256')],
  'machine.target': (e) => [line(`${e.machine}: to install: ${e.reason}`)],
  'machine.skipped': (e) => [line(`${e.machine}: skipped: ${e.reason}`)],
  'machine.refused': (e) => [line(`${e.machine}: REFUSED: ${e.reason}`)],
  'machine.progress': (e) => [{ to: 'live', state: e.state }],
  'machine.failed': (e) => [row(e.machine, 'failed', `installer failed: ${e.lastLine}`)],
  'machine.netboot': (e) =>
    e.result === 'rebooted'
      ? [note(`${e.machine}: ${e.detail}`)]
      : [note(`${e.machine}: cannot send it back to netboot by itself: ${e.detail}`)],
  'machine.stalled': (e) => [
    note(
      `${e.machine}: stalled in ${e.stage} for ${e.seconds} s; last seen: ${e.lastSeen}\n  check: ${e.check}`,
    ),
  ],
  'pxe.listening': (e) => [note(`${e.service} listening on ${e.address}`)],
  'pxe.warning': (e) => [note(`warning: ${e.service}: ${e.message}`)],
  'dhcp.ignored': (e) => [note(`ignored ${e.mac}: ${e.reason}`, true)],
  'metal.summary': (e) => [{ to: 'summary', lines: metalSummary(e.machines) }],
}
