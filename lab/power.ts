/**
 * The lab's power switch: Wake-on-LAN magic packets power on QEMU machines.
 *
 * Runs inside the switch namespace (lab/power-daemon.ts binds UDP 9 there; the bridge
 * delivers limited broadcasts to it without any address). A packet for a machine of the
 * lab powers it on: a tap on br0, then qemu-system-x86_64 (q35, 1024 MB, UEFI with a
 * writable vars copy, or SeaBIOS for `firmware: bios`), NIC with the machine's MAC and the
 * iPXE ROM, a disk (vms/<name>/disk.img), serial console to vms/<name>/console.log. The disk and
 * the UEFI variables persist: a guest reboot restarts the machine in the same QEMU (no
 * -no-reboot), so an installed machine boots from its disk as its BootOrder says. A machine
 * that is on is not started twice; when QEMU exits (the guest powered off) the machine is off,
 * and the next magic packet powers it on again.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { copyFile, mkdir, open, rename, stat, truncate, writeFile } from 'node:fs/promises'
import type { Machine } from '../core/config/schema.ts'
import { poll } from '../lib/poll/index.ts'
import { isRunning, run } from './_process.ts'
import {
  DEFAULT_ACCEL,
  OVMF_HTTP_BOOT_ARGS,
  ovmfVarsTemplate,
  qemuArgs,
  type VmOptions,
} from './qemu-args.ts'
import { BRIDGE, type LabPaths, readJson, type VmRecord, vmPaths, writeJson } from './state.ts'

/** A machine the daemon may power on. */
export interface PowerMachine {
  readonly name: string
  readonly mac: string
  /** `uefi-http`: UEFI that netboots by HTTP boot (OVMF's own, no PXE entry, no iPXE ROM). */
  readonly firmware: 'uefi' | 'uefi-http' | 'bios'
  /** Its tap device on br0 in the switch namespace. */
  readonly tap: string
}

/** power.json: written by `lab up`, read by the daemon. */
export interface PowerSpec {
  readonly machines: readonly PowerMachine[]
  readonly accel: 'tcg' | 'kvm'
  readonly memoryMb: number
}

export const LAB_MEMORY_MB = 1024
/** Each lab machine's disk (a sparse file): room for the test OS's ESP. */
export const LAB_DISK_MB = 256

/** The daemon's view of the machines in the config. */
export function powerSpec(machines: readonly Machine[], accel = DEFAULT_ACCEL): PowerSpec {
  return {
    machines: machines.map((m, i) => ({
      name: m.name,
      mac: m.mac.toLowerCase().replaceAll('-', ':'),
      firmware: m.firmware === 'bios' || m.firmware === 'uefi-http' ? m.firmware : 'uefi',
      tap: `tap${i}`,
    })),
    accel,
    memoryMb: LAB_MEMORY_MB,
  }
}

/**
 * The MAC a Wake-on-LAN magic packet is for: 6 bytes 0xff, then the MAC 16 times (a SecureOn
 * password may follow). Undefined for anything else.
 */
export function parseMagicPacket(packet: Uint8Array): string | undefined {
  if (packet.length < 102) return undefined
  for (let i = 0; i < 6; i++) if (packet[i] !== 0xff) return undefined
  const mac = packet.subarray(6, 12)
  for (let r = 1; r < 16; r++)
    for (let i = 0; i < 6; i++) if (packet[6 + r * 6 + i] !== mac[i]) return undefined
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':')
}

/**
 * The QEMU options of a lab machine: its disk, and a guest reboot restarts it (same disk and
 * vars). SeaBIOS needs QEMU's default ROM (see qemu-args.ts); `uefi-http` machines use OVMF's own
 * network stack with its PXE entries left out, so they HTTP-boot (UEFI arch 16).
 */
export function labVmOptions(
  machine: PowerMachine,
  spec: Pick<PowerSpec, 'accel' | 'memoryMb'>,
  disk: string,
): VmOptions {
  const http = machine.firmware === 'uefi-http'
  return {
    mac: machine.mac,
    firmware: http ? 'uefi' : machine.firmware,
    memoryMb: spec.memoryMb,
    boot: { kind: 'network' },
    rom: machine.firmware === 'bios' ? 'default' : http ? 'none' : 'ipxe',
    accel: spec.accel,
    disk,
    reboot: 'reset',
    ...(http ? { extraArgs: OVMF_HTTP_BOOT_ARGS } : {}),
  }
}

export type PowerLog = (line: string) => void

/** Powers machines on as magic packets arrive, and records each one's state in vms/<name>/vm.json. */
export class PowerSwitch {
  private readonly spec: PowerSpec
  private readonly paths: LabPaths
  private readonly log: PowerLog
  /** Machines being started or running, by name: the guard against starting one twice. */
  private readonly on = new Map<string, { pid?: number; child?: ChildProcess }>()
  private readonly byMac: Map<string, PowerMachine>
  private closed = false

  constructor(spec: PowerSpec, paths: LabPaths, log: PowerLog) {
    this.spec = spec
    this.paths = paths
    this.log = log
    this.byMac = new Map(spec.machines.map((m) => [m.mac, m]))
  }

  /**
   * Takes over machines left running by an earlier daemon (vm.json says on and the PID is
   * still that QEMU): they are not started again, and are watched until they power off.
   */
  async adopt(): Promise<void> {
    for (const machine of this.spec.machines) {
      const files = vmPaths(this.paths, machine.name)
      const record = await readJson<VmRecord>(files.vmJson).catch(() => undefined)
      if (record?.state !== 'on') continue
      if (await isRunning(record.pid, files.console)) {
        this.on.set(machine.name, { ...(record.pid === undefined ? {} : { pid: record.pid }) })
        this.log(`${machine.name}: already on (QEMU pid ${record.pid}), watching it`)
        void this.watch(machine, record)
      } else {
        await this.recordOff(machine, record.poweredOnAt, 'gone')
      }
    }
  }

  /** Handles one datagram; resolves when the machine it wakes (if any) is started. */
  async handle(packet: Uint8Array, from: string): Promise<void> {
    if (this.closed) return
    const mac = parseMagicPacket(packet)
    if (mac === undefined) return
    const machine = this.byMac.get(mac)
    if (machine === undefined) {
      this.log(`magic packet for ${mac} from ${from}: ignored (not a machine of this lab)`)
      return
    }
    if (this.on.has(machine.name)) {
      this.log(`magic packet for ${mac} (${machine.name}) from ${from}: already on`)
      return
    }
    this.on.set(machine.name, {})
    this.log(`magic packet for ${mac} (${machine.name}) from ${from}: powering on`)
    try {
      await this.powerOn(machine)
    } catch (cause) {
      this.on.delete(machine.name)
      this.log(`${machine.name}: cannot power on: ${(cause as Error).message}`)
    }
  }

  /** Stops handling packets; running machines stay on (`lab down` ends them by PID). */
  close(): void {
    this.closed = true
  }

  private async powerOn(machine: PowerMachine): Promise<void> {
    const files = vmPaths(this.paths, machine.name)
    await mkdir(files.dir, { recursive: true, mode: 0o700 })
    await ensureTap(machine.tap)
    const template = ovmfVarsTemplate(machine.firmware === 'bios' ? 'bios' : 'uefi')
    if (template !== undefined && !(await exists(files.vars))) await copyFile(template, files.vars)
    if (!(await exists(files.disk))) {
      await writeFile(files.disk, '', { mode: 0o600 })
      await truncate(files.disk, LAB_DISK_MB * 1024 * 1024)
    }
    if (await exists(files.console)) await rename(files.console, files.previousConsole)
    const args = qemuArgs(labVmOptions(machine, this.spec, files.disk), {
      tap: machine.tap,
      consolePath: files.console,
      varsPath: template === undefined ? undefined : files.vars,
    })
    const log = await open(files.qemuLog, 'w', 0o600)
    let child: ChildProcess
    try {
      child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', log.fd, log.fd] })
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject)
        child.once('spawn', () => resolve())
      })
    } finally {
      await log.close()
    }
    const pid = child.pid as number
    const poweredOnAt = new Date().toISOString()
    this.on.set(machine.name, { pid, child })
    await writeJson(files.vmJson, {
      name: machine.name,
      mac: machine.mac,
      state: 'on',
      pid,
      poweredOnAt,
      console: files.console,
    } satisfies VmRecord)
    this.log(`${machine.name}: on (QEMU pid ${pid}, console ${files.console})`)
    child.once('exit', (code, sig) => {
      void this.recordOff(machine, poweredOnAt, code ?? sig ?? 'unknown')
    })
  }

  private async watch(machine: PowerMachine, record: VmRecord): Promise<void> {
    const marker = vmPaths(this.paths, machine.name).console
    await poll(async () => ((await isRunning(record.pid, marker)) ? undefined : true), {
      what: `QEMU of ${machine.name} to end`,
      intervalMs: 1000,
    })
    await this.recordOff(machine, record.poweredOnAt, 'gone')
  }

  private async recordOff(
    machine: PowerMachine,
    poweredOnAt: string | undefined,
    exit: number | string,
  ): Promise<void> {
    this.on.delete(machine.name)
    const files = vmPaths(this.paths, machine.name)
    await writeJson(files.vmJson, {
      name: machine.name,
      mac: machine.mac,
      state: 'off',
      ...(poweredOnAt === undefined ? {} : { poweredOnAt }),
      poweredOffAt: new Date().toISOString(),
      exit,
      console: files.console,
    } satisfies VmRecord).catch((cause: Error) => this.log(`${machine.name}: ${cause.message}`))
    this.log(`${machine.name}: off (QEMU exit ${exit})`)
  }
}

/** Makes the tap on br0 (in this process's namespace) unless it is there. */
async function ensureTap(tap: string): Promise<void> {
  const present = await run('ip', ['-o', 'link', 'show', 'dev', tap]).then(
    () => true,
    () => false,
  )
  if (!present) await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'])
  await run('ip', ['link', 'set', 'dev', tap, 'master', BRIDGE])
  await run('ip', ['link', 'set', 'dev', tap, 'up'])
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
