import type { Derived } from '../../core/config/checks.ts'
import type { Config, Machine } from '../../core/config/schema.ts'
import { IsoImage } from '../../lib/iso9660/index.ts'
import { probeHostKey, sameHostKey } from '../../lib/ssh/index.ts'
import { GRUB_CONFIG_PATHS, renderGrubConfig, renderIpxeScript, TREE } from '../os/bootloader.ts'
import { kickstartPath, renderKickstart } from '../os/kickstart.ts'
import { readPublicKey } from '../os/ssh-keys.ts'
import type { BootEvent } from '../pxe/events.ts'
import { AliasSource, GeneratedSource, MountedSource } from '../pxe/files.ts'
import { IsoSource } from '../pxe/iso-source.ts'
import type { MachineDirectory } from '../pxe/machine-directory.ts'
import { type MachineProgress, ProgressBoard, type Stage } from '../pxe/progress.ts'
import { startPxe } from '../pxe/server.ts'
import { type MachineRecord, readState, writeState } from './state.ts'
import { wake } from './wol.ts'

/** Seconds a machine may stay in a stage before it is reported as stalled. */
export interface StageTimeouts {
  readonly waiting: number
  readonly dhcp: number
  readonly 'boot-loader': number
  readonly kernel: number
  readonly installer: number
  readonly installed: number
}

/** Defaults for real hardware: slow POSTs, a full Fedora install. */
export const DEFAULT_TIMEOUTS: StageTimeouts = {
  waiting: 600,
  dhcp: 180,
  'boot-loader': 180,
  kernel: 300,
  installer: 3600,
  installed: 900,
}

export type ProvisionEvent =
  | BootEvent
  | { readonly type: 'machine.skipped'; readonly machine: string; readonly reason: string }
  | { readonly type: 'machine.target'; readonly machine: string; readonly reason: string }
  | { readonly type: 'machine.progress'; readonly state: MachineProgress }
  | {
      readonly type: 'machine.stalled'
      readonly machine: string
      readonly stage: Stage
      readonly seconds: number
      readonly lastSeen: string
      readonly check: string
    }
  | { readonly type: 'machine.refused'; readonly machine: string; readonly reason: string }
  | { readonly type: 'metal.summary'; readonly machines: readonly MachineSummaryRow[] }

export interface MachineSummaryRow {
  readonly machine: string
  readonly ip: string
  readonly result: 'installed' | 'skipped' | 'failed' | 'refused'
  /** Seconds from the start to each stage reached. */
  readonly stages: Readonly<Partial<Record<Stage, number>>>
  readonly detail: string
}

export interface ProvisionOptions {
  readonly config: Config
  readonly derived: Derived
  /** The folder of homelab.yaml (os.sshPublicKey is relative to it). */
  readonly configDir: string
  /** Where machine state is kept (.state). */
  readonly stateDir: string
  /** The verified installer ISO. */
  readonly isoPath: string
  readonly reinstall?: readonly string[]
  readonly timeouts?: Partial<StageTimeouts>
  /** Extra kernel arguments for the installer (e.g. console=ttyS0 in the lab). */
  readonly kernelArgs?: string
  readonly events: (event: ProvisionEvent) => void
  readonly serverAddress?: string
  readonly httpPort?: number
  readonly tftpPort?: number
  /** Stops the run (Ctrl-C): the server is closed and the run ends as failed. */
  readonly signal?: AbortSignal
  /** Seams for tests. */
  readonly wakeMachines?: (macs: readonly string[]) => Promise<void>
  readonly probe?: (ip: string) => Promise<string>
}

const STALL_CHECKS: Record<keyof StageTimeouts, (m: Machine, c: Config) => string> = {
  waiting: (m, c) =>
    `is ${m.name} powered on (or Wake-on-LAN enabled in its firmware) and set to boot from the network first? Is its MAC ${m.mac} right, and is it on ${c.network.interface}'s segment? In proxy mode the router must lease it an address (homelab doctor)`,
  dhcp: (m) =>
    `${m.name} got our DHCP answer but fetched no boot loader: is TFTP (port 69) blocked by a firewall on the controller? Does its firmware boot in the mode of its firmware hint (${m.firmware ?? 'uefi'})?`,
  'boot-loader': (m) =>
    `${m.name} loaded the boot loader but not the kernel: is HTTP (port 80) blocked by a firewall on the controller? Is Secure Boot refusing the kernel? Watch its console`,
  kernel: (m) =>
    `${m.name}'s installer started but never fetched its kickstart or reported: watch its console`,
  installer: (m) =>
    `${m.name}'s installer stopped reporting: watch its console; is disk ${m.disk} present, and can it reach the install tree over HTTP?`,
  installed: (m) =>
    `${m.name} installed but SSH at ${m.ip} does not answer: does it boot from disk (not from the network) now, and is its NIC really named ${m.nic}?`,
}

/** A directory of the machines being installed; machines leave it when they report installed. */
class TargetDirectory implements MachineDirectory {
  private readonly byMacMap = new Map<string, Machine>()
  private readonly learned = new Map<string, Machine>()
  constructor(targets: readonly Machine[]) {
    for (const m of targets) this.byMacMap.set(m.mac.toLowerCase().replaceAll('-', ':'), m)
  }
  byMac(mac: string) {
    const m = this.byMacMap.get(mac.toLowerCase())
    return m === undefined ? undefined : { name: m.name, mac: m.mac, ip: m.ip }
  }
  byIp(ip: string) {
    const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip
    for (const m of this.byMacMap.values()) if (m.ip === plain) return { name: m.name, mac: m.mac, ip: m.ip }
    const m = this.learned.get(plain)
    return m === undefined || !this.byMacMap.has(m.mac.toLowerCase().replaceAll('-', ':'))
      ? undefined
      : { name: m.name, mac: m.mac, ip: m.ip }
  }
  /** Remembers the address a netbooting machine got from the router (proxy mode). */
  learn(ip: string, machine: Machine): void {
    this.learned.set(ip, machine)
  }
  remove(machine: Machine): void {
    this.byMacMap.delete(machine.mac.toLowerCase().replaceAll('-', ':'))
  }
  has(name: string): boolean {
    for (const m of this.byMacMap.values()) if (m.name === name) return true
    return false
  }
}

/** Installs the machines that need it. Resolves with one summary row per machine. */
export async function provision(options: ProvisionOptions): Promise<MachineSummaryRow[]> {
  const { config, derived, events } = options
  const started = Date.now()
  const probe = options.probe ?? (async (ip: string) => (await probeHostKey(ip, 22, 3000)).key)
  const timeouts: StageTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts }
  const reinstall = new Set(options.reinstall ?? [])
  for (const name of reinstall) {
    if (!config.machines.some((m) => m.name === name)) {
      throw new Error(
        `Cannot reinstall "${name}": no machine of that name in homelab.yaml (machines: ${config.machines.map((m) => m.name).join(', ')})`,
      )
    }
  }
  const state = await readState(options.stateDir)
  const records: Record<string, MachineRecord> = { ...state.machines }
  const rows = new Map<string, MachineSummaryRow>()

  // 1. Targets.
  const targets: Machine[] = []
  await Promise.all(
    config.machines.map(async (m) => {
      const record = records[m.name]
      if (reinstall.has(m.name)) {
        targets.push(m)
        events({
          type: 'machine.target',
          machine: m.name,
          reason: '--reinstall: it is installed again when it netboots',
        })
        return
      }
      if (record === undefined) {
        targets.push(m)
        events({ type: 'machine.target', machine: m.name, reason: 'not installed by homelab yet' })
        return
      }
      let key: string | undefined
      try {
        key = await probe(m.ip)
      } catch {
        key = undefined
      }
      if (key === undefined) {
        targets.push(m)
        events({
          type: 'machine.target',
          machine: m.name,
          reason: `installed before, but SSH at ${m.ip} does not answer: installing again when it netboots`,
        })
      } else if (sameHostKey(key, record.hostKey)) {
        rows.set(m.name, {
          machine: m.name,
          ip: m.ip,
          result: 'skipped',
          stages: {},
          detail: 'installed (SSH answers with its recorded host key)',
        })
        events({
          type: 'machine.skipped',
          machine: m.name,
          reason: `installed: SSH at ${m.ip} answers with the host key recorded at its install (use --reinstall ${m.name} to reinstall)`,
        })
      } else {
        const reason = `SSH at ${m.ip} answers with a host key that is not the one recorded at ${m.name}'s install: another host may hold the address, so it is left alone (if you reinstalled it by hand, run with --reinstall ${m.name})`
        rows.set(m.name, { machine: m.name, ip: m.ip, result: 'refused', stages: {}, detail: reason })
        events({ type: 'machine.refused', machine: m.name, reason })
      }
    }),
  )
  targets.sort((a, b) => config.machines.indexOf(a) - config.machines.indexOf(b))
  if (targets.length === 0) return finish()

  // Progress of each target, fed by the boot events (declared before the server starts emitting).
  const board = new ProgressBoard(targets.map((m) => m.name))
  const pending = new Map(targets.map((m) => [m.name, m]))
  const reported = new Map<string, string>()
  let resolveAll: () => void = () => {}
  const allDone = new Promise<void>((r) => {
    resolveAll = r
  })
  const settle = (m: Machine, row: MachineSummaryRow) => {
    if (!pending.has(m.name)) return
    pending.delete(m.name)
    rows.set(m.name, row)
    if (pending.size === 0) resolveAll()
  }
  const stagesOf = (name: string) => {
    const reached = board.get(name)?.reached ?? {}
    const out: Partial<Record<Stage, number>> = {}
    for (const [stage, at] of Object.entries(reached))
      out[stage as Stage] = Math.round((at - started) / 100) / 10
    return out
  }
  const progress = (state: MachineProgress | undefined) => {
    if (state !== undefined) events({ type: 'machine.progress', state })
  }

  // 2. Serve the targets.
  const sshPublicKey = await readPublicKey(config, options.configDir)
  const directory = new TargetDirectory(targets)
  const iso = await IsoImage.open(options.isoPath)
  const isoSource = new IsoSource(iso)
  const server = await (async () => {
    let address = options.serverAddress
    const generated = new GeneratedSource()
    const pxe = await startPxe({
      config,
      derived,
      directory,
      sources: [
        generated,
        new AliasSource({ 'uefi/shimx64.efi': TREE.shim, 'uefi/grubx64.efi': TREE.grub }, isoSource),
        new MountedSource('os', isoSource),
      ],
      events: onBootEvent,
      ...(address === undefined ? {} : { serverAddress: address }),
      ...(options.httpPort === undefined ? {} : { httpPort: options.httpPort }),
      ...(options.tftpPort === undefined ? {} : { tftpPort: options.tftpPort }),
    })
    address = pxe.serverAddress
    const http = pxe.httpPort === 80 ? address : `${address}:${pxe.httpPort}`
    const bootCtx = {
      server: http,
      ...(options.kernelArgs === undefined ? {} : { kernelArgs: options.kernelArgs }),
    }
    for (const path of GRUB_CONFIG_PATHS) generated.set(path, renderGrubConfig(bootCtx))
    generated.set('boot.ipxe', renderIpxeScript(bootCtx))
    for (const m of targets) {
      const ks = renderKickstart(m, { config, derived, server: http, sshPublicKey })
      // Served only while the machine is a target: once installed, its kickstart is gone.
      generated.set(kickstartPath(m.mac), () => (directory.has(m.name) ? ks : undefined))
    }
    return pxe
  })().catch(async (err) => {
    await iso.close()
    throw err
  })

  /** The servers call this: it must never throw into them. */
  function onBootEvent(event: BootEvent): void {
    try {
      followBootEvent(event)
    } catch (err) {
      events({
        type: 'pxe.warning',
        service: 'metal',
        message: `Cannot follow boot event ${event.type}: ${(err as Error).message}`,
      })
    }
  }

  function followBootEvent(event: BootEvent): void {
    events(event)
    if (event.type === 'dhcp' && event.direction === 'in' && event.ip !== undefined) {
      const m = targets.find((t) => t.name === event.machine)
      if (m !== undefined) directory.learn(event.ip, m)
    }
    progress(board.apply(event))
    if (event.type === 'install.report') {
      const m = pending.get(event.machine)
      if (m === undefined) return
      if (event.stage === 'hostkey' && event.detail !== undefined) reported.set(m.name, event.detail.trim())
      if (event.stage === 'failed') {
        settle(m, {
          machine: m.name,
          ip: m.ip,
          result: 'failed',
          stages: stagesOf(m.name),
          detail: `the installer failed: ${event.detail ?? 'no reason given'}`,
        })
      }
      if (event.stage === 'installed') {
        directory.remove(m)
        void waitForSsh(m)
      }
    }
  }

  async function waitForSsh(m: Machine): Promise<void> {
    const deadline = Date.now() + timeouts.installed * 1000
    while (pending.has(m.name) && Date.now() < deadline && options.signal?.aborted !== true) {
      try {
        const key = await probe(m.ip)
        const expected = reported.get(m.name)
        if (expected !== undefined && !sameHostKey(key, expected)) {
          throw new Error(`SSH at ${m.ip} answers with another host key than ${m.name} reported at install`)
        }
        records[m.name] = {
          mac: m.mac,
          ip: m.ip,
          hostKey: expected ?? key,
          installedAt: new Date().toISOString(),
        }
        await writeState(options.stateDir, { machines: records })
        progress(board.mark(m.name, 'ssh-ready', `SSH answers at ${m.ip}`))
        settle(m, {
          machine: m.name,
          ip: m.ip,
          result: 'installed',
          stages: stagesOf(m.name),
          detail: `SSH ready at ${m.ip}`,
        })
        return
      } catch (err) {
        if ((err as Error).message.includes('another host key')) {
          settle(m, {
            machine: m.name,
            ip: m.ip,
            result: 'failed',
            stages: stagesOf(m.name),
            detail: (err as Error).message,
          })
          return
        }
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  }

  // 3. Wake and follow.
  const watchdog = setInterval(() => {
    const now = Date.now()
    for (const m of pending.values()) {
      const state = board.get(m.name)
      if (state === undefined || state.stage === 'ssh-ready') continue
      const stage = state.stage as keyof StageTimeouts
      const since = state.lastSeenAt === 0 ? started : state.lastSeenAt
      const limit = timeouts[stage]
      if (now - since > limit * 1000) {
        events({
          type: 'machine.stalled',
          machine: m.name,
          stage,
          seconds: limit,
          lastSeen: state.lastSeen,
          check: STALL_CHECKS[stage](m, config),
        })
        settle(m, {
          machine: m.name,
          ip: m.ip,
          result: 'failed',
          stages: stagesOf(m.name),
          detail: `stalled in ${stage} for ${limit} s; last seen: ${state.lastSeen}`,
        })
      }
    }
  }, 500)
  const onAbort = () => {
    for (const m of [...pending.values()]) {
      settle(m, {
        machine: m.name,
        ip: m.ip,
        result: 'failed',
        stages: stagesOf(m.name),
        detail: `stopped; last seen: ${board.get(m.name)?.lastSeen ?? 'nothing'}`,
      })
    }
  }
  options.signal?.addEventListener('abort', onAbort)
  try {
    const wakeMachines =
      options.wakeMachines ?? ((macs: readonly string[]) => wake(macs, { from: server.serverAddress }))
    await wakeMachines(targets.map((m) => m.mac))
    await allDone
  } finally {
    clearInterval(watchdog)
    options.signal?.removeEventListener('abort', onAbort)
    await server.close()
    await iso.close()
  }
  return finish()

  function finish(): MachineSummaryRow[] {
    const list = config.machines.map(
      (m) =>
        rows.get(m.name) ?? {
          machine: m.name,
          ip: m.ip,
          result: 'failed' as const,
          stages: {},
          detail: 'not reached',
        },
    )
    events({ type: 'metal.summary', machines: list })
    return list
  }
}
