/**
 * `lab down`: labDown() ends every lab process by its recorded PID (the power daemon first, then
 * the machines' QEMU, then the router's dnsmasq), deletes the namespaces (ending by PID anything
 * still inside) and the controller's veth when it is the lab's, and removes the lab's records.
 * It works from lab.json, or from the prefix and interface given when lab.json is missing, and
 * is safe to run twice.
 */
import { readdir, rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ip, stopProcess } from './_process.ts'
import { daemonMarker, dnsmasqMarker, type LabEvents, type LabStep, link, namespaces } from './host.ts'
import {
  DEFAULT_PREFIX,
  type LabPaths,
  type LabRecord,
  labNames,
  labPaths,
  readJson,
  type VmRecord,
  vmPaths,
} from './state.ts'

export interface LabDownOptions {
  readonly stateDir: string
  /** Used when lab.json is missing (a lab half-built before it was recorded). @default 'hl-lab' */
  readonly prefix?: string
  /** The config's network.interface, used when lab.json is missing. */
  readonly interface?: string
  readonly events: LabEvents
}

/** Ends every lab process by PID, deletes the namespaces and the veth. Safe to run twice. */
export async function labDown(options: LabDownOptions): Promise<void> {
  const stateDir = resolve(options.stateDir)
  const paths = labPaths(stateDir)
  const record = await readJson<LabRecord>(paths.labJson)
  const names = labNames(record?.prefix ?? options.prefix ?? DEFAULT_PREFIX)
  const step = (name: string, status: LabStep['status'], detail = '') =>
    options.events({ type: 'lab.step', step: name, status, detail })

  // First the power daemon, so that nothing is powered on while the lab goes away.
  const daemonPid = record?.daemon?.pid
  step(
    'power daemon',
    (await stopProcess(daemonPid, daemonMarker(stateDir))) ? 'stopped' : 'absent',
    daemonPid === undefined ? '' : `pid ${daemonPid}`,
  )
  for (const vm of await vmRecords(paths)) {
    const files = vmPaths(paths, vm.name)
    const stopped = vm.state === 'on' && (await stopProcess(vm.pid, files.console, 2000))
    step(`machine ${vm.name}`, stopped ? 'stopped' : 'absent', stopped ? `QEMU pid ${vm.pid}` : 'off')
    await rm(files.vmJson, { force: true })
    await rm(files.vars, { force: true })
  }
  const dnsmasqPid = record?.dnsmasq?.pid
  if (dnsmasqPid !== undefined)
    step(
      'router DHCP',
      (await stopProcess(dnsmasqPid, dnsmasqMarker(paths))) ? 'stopped' : 'absent',
      `pid ${dnsmasqPid}`,
    )

  const iface = record?.interface ?? options.interface
  const ifaceBefore = iface === undefined ? undefined : await link(iface)
  const have = await namespaces()
  for (const ns of [names.switchNs, names.routerNs]) {
    if (!have.has(ns)) {
      step(`namespace ${ns}`, 'absent')
      continue
    }
    // Anything still running inside (started by hand, or by a daemon that was killed) ends by PID.
    const pids = (await ip(['netns', 'pids', ns]).catch(() => ''))
      .split('\n')
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 1)
    for (const pid of pids) await stopProcess(pid, '', 2000)
    await ip(['netns', 'del', ns])
    step(`namespace ${ns}`, 'removed', pids.length > 0 ? `ended pids ${pids.join(', ')}` : '')
  }
  // Deleting the switch removed the veth; an interface left over is removed only when it is the lab's.
  if (iface !== undefined) {
    const left = await link(iface)
    if (ifaceBefore === undefined) step(`controller ${iface}`, 'absent')
    else if (ifaceBefore.ifalias !== names.alias) step(`controller ${iface}`, 'kept', 'not made by the lab')
    else {
      // The kernel removes a veth whose peer's namespace was deleted in the background: the
      // interface seen a moment ago may be gone by the time we delete it, which is the goal.
      if (left !== undefined)
        await ip(['link', 'del', 'dev', iface]).catch(async (cause: unknown) => {
          if ((await link(iface)) !== undefined) throw cause
        })
      step(`controller ${iface}`, 'removed')
    }
  }
  await rm(paths.powerJson, { force: true })
  await rm(paths.leases, { force: true })
  await rm(paths.labJson, { force: true })
}

async function vmRecords(paths: LabPaths): Promise<VmRecord[]> {
  const names = await readdir(paths.vmsDir).catch(() => [] as string[])
  const records: VmRecord[] = []
  for (const name of names.sort()) {
    const record = await readJson<VmRecord>(vmPaths(paths, name).vmJson).catch(() => undefined)
    if (record !== undefined) records.push(record)
  }
  return records
}
