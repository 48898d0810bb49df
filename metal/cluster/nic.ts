/**
 * The interface flannel (and kube-vip) bind to on each node: the name the installed system gives the
 * NIC with the machine's MAC, as its kickstart's %post reported it at install (`nic` in the
 * machine's record, .state/machines.json). homelab.yaml's `nic` is used when no name was reported
 * (machines installed before that report existed, or by other means), or when the record belongs
 * to another MAC. A difference is reported, with the fix, and the reported name wins: it is what
 * the machine really has, and k3s with a wrong `flannel-iface` does not start.
 */
import type { Config, Machine } from '../../core/config/schema.ts'
import type { MachineRecord } from '../provision/state.ts'
import { IFNAME } from '../pxe/http-report.ts'

export interface NicChoice {
  /** The interface name to render. */
  readonly nic: string
  /** Why it is not homelab.yaml's `nic`, or why the record was not used: shown as a warning. */
  readonly warning?: string
}

const sameMac = (a: string, b: string) =>
  a.toLowerCase().replaceAll('-', ':') === b.toLowerCase().replaceAll('-', ':')

/** The interface of machine number `index` of homelab.yaml, given its record. Pure. */
export function chooseNic(machine: Machine, index: number, record: MachineRecord | undefined): NicChoice {
  const field = `homelab.yaml machines[${index}].nic`
  const reported = record?.nic
  if (record === undefined || reported === undefined || reported === machine.nic) return { nic: machine.nic }
  if (!sameMac(record.mac, machine.mac)) {
    return {
      nic: machine.nic,
      warning: `the NIC name "${reported}" recorded at its install is for MAC ${record.mac}, not ${machine.mac}: using ${field} ("${machine.nic}"); reinstall it (homelab metal --reinstall ${machine.name}) to record the NIC of its configured MAC`,
    }
  }
  if (!IFNAME.test(reported)) {
    return {
      nic: machine.nic,
      warning: `the NIC name recorded at its install is not an interface name: using ${field} ("${machine.nic}"); fix "nic" of ${machine.name} in .state/machines.json or reinstall it`,
    }
  }
  return {
    nic: reported,
    warning: `${field} is "${machine.nic}", but the installed system names the NIC with MAC ${machine.mac} "${reported}" (reported at install): using "${reported}" for flannel and kube-vip; set nic: ${reported} for ${machine.name} in homelab.yaml to match`,
  }
}

/** The config with each machine's `nic` replaced by chooseNic()'s, and the warnings by machine name. */
export function withInstalledNics(
  config: Config,
  records: Readonly<Record<string, MachineRecord>>,
): { readonly config: Config; readonly warnings: ReadonlyMap<string, string> } {
  const warnings = new Map<string, string>()
  const machines = config.machines.map((m, index) => {
    const choice = chooseNic(m, index, records[m.name])
    if (choice.warning !== undefined) warnings.set(m.name, choice.warning)
    return choice.nic === m.nic ? m : { ...m, nic: choice.nic }
  })
  return { config: { ...config, machines }, warnings }
}
