import type { Derived } from '../../core/config/checks.ts'
import type { Config, Machine } from '../../core/config/schema.ts'
import { IsoImage } from '../../lib/iso9660/index.ts'
import { connectSsh, probeHostKey } from '../../lib/ssh/index.ts'
import { renderBootConfigs, TREE } from '../os/bootloader.ts'
import { kickstartPath, renderKickstart } from '../os/kickstart.ts'
import { readPrivateKey, readPublicKey } from '../os/ssh-keys.ts'
import type { BootEvent } from '../pxe/events.ts'
import { AliasSource, GeneratedSource, MountedSource } from '../pxe/files.ts'
import { DEFAULT_HTTP_PORT } from '../pxe/http.ts'
import { IsoSource } from '../pxe/iso-source.ts'
import type { MachineDirectory } from '../pxe/machine-directory.ts'
import { machineOnly } from '../pxe/machine-only.ts'
import { startPxe } from '../pxe/server.ts'
import { checkUndionly, ipxeDirOf, MOK_MANAGER, UndionlySource } from './boot-files.ts'
import { InstallTracker } from './follow.ts'
import { type NetbootOutcome, netbootAgain } from './netboot-again.ts'
import { type MachineRecord, readState } from './state.ts'
import { checkReinstall, selectTargets } from './targets.ts'
import { DEFAULT_TIMEOUTS, type MachineSummaryRow, type ProvisionEvent, type StageTimeouts } from './types.ts'
import { wake } from './wol.ts'

export { DEFAULT_TIMEOUTS, type MachineSummaryRow, type ProvisionEvent, type StageTimeouts }

/** The defaults of provision() beyond the stage timeouts. */
export const PROVISION_DEFAULTS = {
  /** How often the stall watchdog looks. */
  watchdogMs: 500,
  /** Between two SSH probes once a machine reported installed. */
  sshPollMs: 1000,
  /** How long one SSH host-key probe may take. */
  probeTimeoutMs: 3000,
  /** How long the SSH connect that sends a --reinstall machine back to netboot may take. */
  sendBackTimeoutMs: 10_000,
} as const

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
  /**
   * The folder holding iPXE's undionly.kpxe for BIOS clients (served as bios/undionly.kpxe).
   * @default HOMELAB_IPXE_DIR, else .cache/ipxe beside homelab.yaml
   */
  readonly ipxeDir?: string
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
  /** Sends an installed machine (--reinstall) back to netboot; default: netbootAgain() over SSH. */
  readonly sendToNetboot?: (m: Machine, record: MachineRecord) => Promise<NetbootOutcome>
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
  /** Whether an address was learned for this machine (from its DHCP exchange). */
  learnedFor(name: string): boolean {
    for (const m of this.learned.values()) if (m.name === name) return true
    return false
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
  const { config, events } = options
  const started = Date.now()
  const probe =
    options.probe ??
    (async (ip: string) => (await probeHostKey(ip, 22, PROVISION_DEFAULTS.probeTimeoutMs)).key)
  const timeouts: StageTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts }
  const reinstall = new Set(options.reinstall ?? [])
  checkReinstall(config, reinstall)
  const state = await readState(options.stateDir)
  const records = { ...state.machines }
  const rows = new Map<string, MachineSummaryRow>()
  const { targets, sendBack } = await selectTargets(config, records, reinstall, probe, events, rows)
  if (targets.length === 0) return finish(config, rows, events)

  // Declared before the server starts emitting.
  const tracker = new InstallTracker({
    config,
    targets,
    started,
    timeouts,
    events,
    probe,
    stateDir: options.stateDir,
    records,
    rows,
    signal: options.signal,
    sshPollMs: PROVISION_DEFAULTS.sshPollMs,
  })
  const directory = new TargetDirectory(targets)
  /** The servers call this: it must never throw into them. */
  const onBootEvent = (event: BootEvent): void => {
    try {
      if (event.type === 'dhcp' && event.direction === 'in' && event.ip !== undefined) {
        const m = targets.find((t) => t.name === event.machine)
        if (m !== undefined) directory.learn(event.ip, m)
      }
      tracker.follow(event, (m) => directory.remove(m))
    } catch (err) {
      events({
        type: 'pxe.warning',
        service: 'metal',
        message: `Cannot follow boot event ${event.type}: ${(err as Error).message}`,
      })
    }
  }
  const { server, iso } = await _serve(options, targets, directory, onBootEvent)
  const sent = { machines: sendBack, records }
  await _wakeAndFollow(options, tracker, targets, sent, server.serverAddress).finally(async () => {
    await server.close()
    await iso.close()
  })
  return finish(config, rows, events)
}

/** The default of ProvisionOptions.sendToNetboot: netbootAgain() over SSH pinned to the recorded key. */
function _sendOverSsh(
  options: ProvisionOptions,
): (m: Machine, record: MachineRecord) => Promise<NetbootOutcome> {
  let key: Promise<Buffer> | undefined
  return (m, record) =>
    netbootAgain(m, async () => {
      key ??= readPrivateKey(options.config, options.configDir)
      return connectSsh({
        host: m.ip,
        privateKey: await key,
        knownHostKey: record.hostKey,
        retries: 1,
        readyTimeoutMs: PROVISION_DEFAULTS.sendBackTimeoutMs,
      })
    })
}

/** Sends each machine back to netboot, reporting each outcome; never throws. */
async function _sendBack(
  options: ProvisionOptions,
  tracker: InstallTracker,
  sent: { machines: readonly Machine[]; records: Readonly<Record<string, MachineRecord>> },
): Promise<void> {
  const send = options.sendToNetboot ?? _sendOverSsh(options)
  await Promise.all(
    sent.machines.map(async (m) => {
      const record = sent.records[m.name]
      if (record === undefined) return
      const outcome = await send(m, record).catch(
        (cause: unknown): NetbootOutcome => ({ result: 'manual', detail: (cause as Error).message }),
      )
      options.events({ type: 'machine.netboot', machine: m.name, ...outcome })
      tracker.seen(
        m,
        outcome.result === 'rebooted'
          ? 'rebooted to netboot once (BootNext)'
          : 'waiting: choose network boot in its firmware menu',
      )
    }),
  )
}

/** Wakes the targets and waits until each has a row: installed, failed, stalled or stopped. */
async function _wakeAndFollow(
  options: ProvisionOptions,
  tracker: InstallTracker,
  targets: readonly Machine[],
  sent: { machines: readonly Machine[]; records: Readonly<Record<string, MachineRecord>> },
  serverAddress: string,
): Promise<void> {
  const watchdog = setInterval(() => tracker.checkStalls(Date.now()), PROVISION_DEFAULTS.watchdogMs)
  const onAbort = () => tracker.stopAll()
  options.signal?.addEventListener('abort', onAbort)
  try {
    const wakeMachines =
      options.wakeMachines ?? ((macs: readonly string[]) => wake(macs, { from: serverAddress }))
    await wakeMachines(targets.map((m) => m.mac))
    // The server is up: a machine sent back now finds it when it netboots.
    const sending = _sendBack(options, tracker, sent)
    await tracker.done
    await sending
  } finally {
    clearInterval(watchdog)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** Starts the PXE server for the targets: boot loaders, the ISO's tree, a kickstart per target. */
async function _serve(
  options: ProvisionOptions,
  targets: readonly Machine[],
  directory: TargetDirectory,
  onBootEvent: (event: BootEvent) => void,
) {
  const { config, derived } = options
  const sshPublicKey = await readPublicKey(config, options.configDir)
  const ipxeDir = ipxeDirOf(options.ipxeDir, options.configDir)
  const missing = await checkUndionly(ipxeDir, targets)
  if (missing !== undefined) onBootEvent({ type: 'pxe.warning', service: 'metal', message: missing })
  const iso = await IsoImage.open(options.isoPath)
  const isoSource = new IsoSource(iso)
  try {
    const generated = new GeneratedSource()
    const pxe = await startPxe({
      config,
      derived,
      directory,
      sources: [
        generated,
        new AliasSource(
          {
            'uefi/shimx64.efi': TREE.shim,
            'uefi/grubx64.efi': TREE.grub,
            [MOK_MANAGER.served]: MOK_MANAGER.iso,
          },
          isoSource,
        ),
        new UndionlySource(ipxeDir, onBootEvent),
        new MountedSource('os', isoSource),
      ],
      events: onBootEvent,
      ...(options.serverAddress === undefined ? {} : { serverAddress: options.serverAddress }),
      ...(options.httpPort === undefined ? {} : { httpPort: options.httpPort }),
      ...(options.tftpPort === undefined ? {} : { tftpPort: options.tftpPort }),
    })
    const http =
      pxe.httpPort === DEFAULT_HTTP_PORT ? pxe.serverAddress : `${pxe.serverAddress}:${pxe.httpPort}`
    const bootCtx = {
      server: http,
      ...(options.kernelArgs === undefined ? {} : { kernelArgs: options.kernelArgs }),
    }
    for (const [path, text] of renderBootConfigs(bootCtx)) generated.set(path, text)
    // Full mode leases each machine its configured address: where it asks from is known. Proxy mode
    // learns it from the machine's DHCP request (docs/metal-pxe.md#kickstarts).
    const full = config.network.dhcp.mode === 'full'
    const access = {
      addressKnown: (name: string) => full || directory.learnedFor(name),
      warn: (message: string) => onBootEvent({ type: 'pxe.warning', service: 'http', message }),
    }
    for (const m of targets) {
      const ks = renderKickstart(m, { config, derived, server: http, sshPublicKey })
      const path = kickstartPath(m.mac)
      // Served only to the machine, and only while it is a target: once installed, it is gone.
      generated.set(
        path,
        machineOnly(m.name, path, () => (directory.has(m.name) ? ks : undefined), access),
      )
    }
    return { server: pxe, iso }
  } catch (err) {
    await iso.close()
    throw err
  }
}

/** One row per machine of homelab.yaml (those never reached: failed), reported as the summary. */
function finish(
  config: Config,
  rows: ReadonlyMap<string, MachineSummaryRow>,
  events: (event: ProvisionEvent) => void,
): MachineSummaryRow[] {
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
