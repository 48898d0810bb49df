/**
 * `lab status`: labStatus() reports what exists and runs, without changing anything: the two
 * namespaces, the controller's interface and its address, the router's dnsmasq (proxy mode), the
 * power daemon, and each machine's QEMU. The lab is up when every piece is there and every
 * process runs.
 */
import { resolve } from 'node:path'
import { isRunning } from './_process.ts'
import { daemonMarker, dnsmasqMarker, ipv4Addresses, link, namespaces } from './host.ts'
import type { PowerSpec } from './power.ts'
import {
  DEFAULT_PREFIX,
  type LabRecord,
  labNames,
  labPaths,
  readJson,
  type VmRecord,
  vmPaths,
} from './state.ts'

export interface LabMachineStatus {
  readonly name: string
  readonly mac: string
  readonly firmware: 'uefi' | 'uefi-http' | 'bios'
  readonly state: 'on' | 'off'
  readonly pid: number | null
  readonly console: string
}

export interface LabStatus {
  readonly type: 'lab.status'
  /** Every piece is there and every process runs. */
  readonly up: boolean
  readonly prefix: string
  readonly stateDir: string
  readonly namespaces: ReadonlyArray<{ readonly name: string; readonly present: boolean }>
  readonly interface: {
    readonly name: string
    readonly present: boolean
    readonly address: string | null
  } | null
  /** null in full mode (no router DHCP). */
  readonly router: {
    readonly address: string
    readonly pid: number | null
    readonly running: boolean
    readonly log: string
  } | null
  readonly daemon: { readonly pid: number | null; readonly running: boolean; readonly log: string }
  readonly machines: readonly LabMachineStatus[]
}

export interface LabStatusOptions {
  readonly stateDir: string
  readonly prefix?: string
}

/** What exists and runs: namespaces, the controller interface, router, daemon, each machine. */
export async function labStatus(options: LabStatusOptions): Promise<LabStatus> {
  const stateDir = resolve(options.stateDir)
  const paths = labPaths(stateDir)
  const record = await readJson<LabRecord>(paths.labJson)
  const names = labNames(record?.prefix ?? options.prefix ?? DEFAULT_PREFIX)
  const have = await namespaces()
  const nsList = [names.switchNs, names.routerNs].map((name) => ({ name, present: have.has(name) }))
  let iface: LabStatus['interface'] = null
  if (record !== undefined) {
    const present = (await link(record.interface))?.ifalias === names.alias
    const address = present
      ? ((await ipv4Addresses()).find((a) => a.ifname === record.interface && a.local === record.controller)
          ?.local ?? null)
      : null
    iface = {
      name: record.interface,
      present,
      address: address === null ? null : `${address}/${record.subnet.split('/')[1]}`,
    }
  }
  const router =
    record === undefined || record.dhcpMode === 'proxy'
      ? {
          address: record?.gateway ?? '',
          pid: record?.dnsmasq?.pid ?? null,
          running: await isRunning(record?.dnsmasq?.pid, dnsmasqMarker(paths)),
          log: paths.dnsmasqLog,
        }
      : null
  const daemon = {
    pid: record?.daemon?.pid ?? null,
    running: await isRunning(record?.daemon?.pid, daemonMarker(stateDir)),
    log: paths.powerLog,
  }
  const spec = await readJson<PowerSpec>(paths.powerJson).catch(() => undefined)
  const machines: LabMachineStatus[] = []
  for (const m of spec?.machines ?? []) {
    const files = vmPaths(paths, m.name)
    const vm = await readJson<VmRecord>(files.vmJson).catch(() => undefined)
    const on = vm?.state === 'on' && (await isRunning(vm.pid, files.console))
    machines.push({
      name: m.name,
      mac: m.mac,
      firmware: m.firmware,
      state: on ? 'on' : 'off',
      pid: on ? (vm?.pid ?? null) : null,
      console: files.console,
    })
  }
  const up =
    record !== undefined &&
    nsList.every((n) => n.present) &&
    iface?.present === true &&
    iface.address !== null &&
    (router === null || router.running) &&
    daemon.running
  return {
    type: 'lab.status',
    up,
    prefix: names.prefix,
    stateDir,
    namespaces: nsList,
    interface: iface,
    router,
    daemon,
    machines,
  }
}
