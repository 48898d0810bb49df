/** Which machines provision() installs: the decision per machine (pure) and the probes it needs. */
import type { Config, Machine } from '../../core/config/schema.ts'
import { sameHostKey } from '../../lib/ssh/index.ts'
import type { MachineRecord } from './state.ts'
import type { MachineSummaryRow, ProvisionEvent } from './types.ts'

/** What becomes of one machine: installed (a target), left as it is, or refused. */
export type TargetDecision =
  | {
      readonly kind: 'target'
      readonly reason: string
      /** --reinstall of a machine answering SSH with its recorded key: send it back to netboot. */
      readonly sendBack?: true
    }
  | { readonly kind: 'skipped'; readonly reason: string; readonly row: MachineSummaryRow }
  | { readonly kind: 'refused'; readonly reason: string; readonly row: MachineSummaryRow }

/** Throws when --reinstall names a machine homelab.yaml does not have. */
export function checkReinstall(config: Config, reinstall: ReadonlySet<string>): void {
  for (const name of reinstall) {
    if (!config.machines.some((m) => m.name === name)) {
      throw new Error(
        `Cannot reinstall "${name}": no machine of that name in homelab.yaml (machines: ${config.machines.map((m) => m.name).join(', ')})`,
      )
    }
  }
}

/**
 * Whether the machine needs its host key probed to decide: it was installed before (with
 * --reinstall too, to know whether it can be sent back to netboot over SSH).
 */
export function needsProbe(record: MachineRecord | undefined): boolean {
  return record !== undefined
}

/**
 * The decision for one machine, from its record, --reinstall and the host key SSH answers with
 * (undefined: no answer, or not probed).
 */
export function decideTarget(
  m: Machine,
  record: MachineRecord | undefined,
  reinstall: ReadonlySet<string>,
  key: string | undefined,
): TargetDecision {
  if (reinstall.has(m.name)) {
    if (record !== undefined && key !== undefined && sameHostKey(key, record.hostKey)) {
      return {
        kind: 'target',
        reason: `--reinstall: SSH at ${m.ip} answers with its recorded host key, so it is told to netboot once (UEFI BootNext) and rebooted`,
        sendBack: true,
      }
    }
    return { kind: 'target', reason: '--reinstall: it is installed again when it netboots' }
  }
  if (record === undefined) return { kind: 'target', reason: 'not installed by homelab yet' }
  if (key === undefined) {
    return {
      kind: 'target',
      reason: `installed before, but SSH at ${m.ip} does not answer: installing again when it netboots`,
    }
  }
  if (sameHostKey(key, record.hostKey)) {
    return {
      kind: 'skipped',
      reason: `installed: SSH at ${m.ip} answers with the host key recorded at its install (use --reinstall ${m.name} to reinstall)`,
      row: {
        machine: m.name,
        ip: m.ip,
        result: 'skipped',
        stages: {},
        detail: 'installed (SSH answers with its recorded host key)',
      },
    }
  }
  const reason = `SSH at ${m.ip} answers with a host key that is not the one recorded at ${m.name}'s install: another host may hold the address, so it is left alone (if you reinstalled it by hand, run with --reinstall ${m.name})`
  return {
    kind: 'refused',
    reason,
    row: { machine: m.name, ip: m.ip, result: 'refused', stages: {}, detail: reason },
  }
}

export interface SelectedTargets {
  /** The machines to install, in homelab.yaml's order. */
  readonly targets: Machine[]
  /** Those of them to send back to netboot over SSH first (--reinstall of a running machine). */
  readonly sendBack: Machine[]
}

/**
 * Decides every machine (probing the installed ones at once), reports each decision, puts the
 * rows of the machines left alone into `rows`, and returns the targets in homelab.yaml's order.
 */
export async function selectTargets(
  config: Config,
  records: Readonly<Record<string, MachineRecord>>,
  reinstall: ReadonlySet<string>,
  probe: (ip: string) => Promise<string>,
  events: (event: ProvisionEvent) => void,
  rows: Map<string, MachineSummaryRow>,
): Promise<SelectedTargets> {
  const targets: Machine[] = []
  const sendBack: Machine[] = []
  await Promise.all(
    config.machines.map(async (m) => {
      const record = records[m.name]
      const key = needsProbe(record) ? await tryProbe(probe, m.ip) : undefined
      const decision = decideTarget(m, record, reinstall, key)
      if (decision.kind === 'target') {
        targets.push(m)
        if (decision.sendBack === true) sendBack.push(m)
        events({ type: 'machine.target', machine: m.name, reason: decision.reason })
      } else {
        rows.set(m.name, decision.row)
        events({
          type: decision.kind === 'skipped' ? 'machine.skipped' : 'machine.refused',
          machine: m.name,
          reason: decision.reason,
        })
      }
    }),
  )
  const order = (a: Machine, b: Machine) => config.machines.indexOf(a) - config.machines.indexOf(b)
  return { targets: targets.sort(order), sendBack: sendBack.sort(order) }
}

async function tryProbe(probe: (ip: string) => Promise<string>, ip: string): Promise<string | undefined> {
  try {
    return await probe(ip)
  } catch {
    return undefined
  }
}
