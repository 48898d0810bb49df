/**
 * Virtual machines on a TestNet: QEMU (q35) with its NIC on the test network's bridge,
 * booting from the network (firmware + iPXE), a CD-ROM image, or a kernel and initrd.
 *
 *   const net = await TestNet.create('e2e')
 *   const vm = await startVm(net, { mac: '52:54:00:12:34:56', firmware: 'uefi', boot: { kind: 'network' } })
 *   await vm.waitForLine(/SSH ready/, 90_000)      // throws with the last 30 console lines on timeout
 *   await vm.stop()                                 // or net.destroy(): the VM is a tracked process
 *
 * How it is wired: a tap device is made in the switch namespace and enslaved to br0, and QEMU
 * runs in that namespace (a tap is looked up by name in the opener's namespace). The serial
 * console goes to a file in a temp folder, removed by stop().
 *
 * Needs qemu-system-x86 (qemu-system-x86_64), ovmf (UEFI firmware) and ipxe-qemu (NIC option ROMs).
 * Uses TCG (software emulation: a UEFI boot to a running kernel takes ~30 s); HOMELAB_QEMU_ACCEL=kvm opts in to KVM.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NsProcess, sh, type TestNet } from './netns.ts'

/** `uefi`: OVMF; `uefi-secure`: OVMF with Secure Boot and Microsoft keys enrolled; `bios`: SeaBIOS. */
export type Firmware = 'uefi' | 'uefi-secure' | 'bios'

export type VmBoot =
  /** Firmware network boot through the NIC's iPXE option ROM. */
  | { readonly kind: 'network' }
  /** Boot from an ISO image as a CD-ROM. */
  | { readonly kind: 'cdrom'; readonly iso: string }
  /** QEMU loads the kernel and initrd itself (fastest: no boot loader, no firmware network). */
  | { readonly kind: 'kernel'; readonly kernel: string; readonly initrd: string; readonly append: string }

export interface VmOptions {
  /** The NIC's MAC address (lower-case, colon-separated). */
  readonly mac: string
  readonly boot: VmBoot
  /** @default 'uefi' */
  readonly firmware?: Firmware
  /** @default 512 */
  readonly memoryMb?: number
  /** NIC model; the iPXE ROM is picked to match. @default 'virtio' */
  readonly nic?: 'virtio' | 'e1000'
  /**
   * The NIC's option ROM: `ipxe` (efi-<nic>.rom for UEFI, pxe-<nic>.rom for BIOS, from ipxe-qemu), or
   * `none`, leaving UEFI network boot to OVMF's own virtio-net driver and PXE (as on most real machines).
   * @default 'ipxe'
   */
  readonly rom?: 'ipxe' | 'none'
  /**
   * QEMU accelerator. TCG (software emulation) by default: it behaves the same on every machine.
   * A /dev/kvm may exist where KVM does not really work (nested, CPUID features missing).
   * @default DEFAULT_ACCEL (env HOMELAB_QEMU_ACCEL, else 'tcg')
   */
  readonly accel?: 'tcg' | 'kvm'
  /** Extra QEMU arguments, appended last. */
  readonly extraArgs?: readonly string[]
}

/** Firmware and ROM files from Debian's ovmf and ipxe-qemu packages. */
export const QEMU_FILES = {
  ovmfCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  ovmfVars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  ovmfSecureCode: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
  ovmfSecureVars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  ipxeDir: '/usr/lib/ipxe/qemu',
} as const

/** The accelerator used unless a VM asks for one. */
export const DEFAULT_ACCEL: 'tcg' | 'kvm' = process.env.HOMELAB_QEMU_ACCEL === 'kvm' ? 'kvm' : 'tcg'

/** Lines of console shown when a wait fails. */
const TAIL_LINES = 30

export interface Vm {
  readonly pid: number
  readonly mac: string
  /** The tap device on br0 (in the switch namespace). */
  readonly tap: string
  /** The serial console log file. */
  readonly consolePath: string
  /** The QEMU command line (for messages). */
  readonly args: readonly string[]
  /** Resolves with QEMU's exit code (or signal name) when it ends. */
  readonly exited: Promise<number | string>
  /** The console so far. */
  console(): Promise<string>
  /**
   * Waits for a console line matching `pattern` and returns it. Throws when QEMU exits first or
   * after timeoutMs, with the last 30 lines of the console (and QEMU's own stderr).
   */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>
  /** Kills QEMU by PID and removes its temp folder and tap device. Safe to call twice. */
  stop(): Promise<void>
}

const tapCounters = new WeakMap<TestNet, number>()

/** The QEMU arguments for the options (no networking plumbing needed to compute them). */
export function qemuArgs(
  options: VmOptions,
  paths: { tap: string; consolePath: string; varsPath?: string },
): string[] {
  const firmware = options.firmware ?? 'uefi'
  const nic = options.nic ?? 'virtio'
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(options.mac)) {
    throw new TypeError(`Cannot start VM: mac "${options.mac}" is not lower-case xx:xx:xx:xx:xx:xx`)
  }
  const secure = firmware === 'uefi-secure'
  const args = [
    '-machine',
    secure ? 'q35,smm=on' : 'q35',
    '-accel',
    options.accel ?? DEFAULT_ACCEL,
    '-m',
    String(options.memoryMb ?? 512),
    '-smp',
    '1',
    '-nographic',
    '-no-reboot',
    '-monitor',
    'none',
    '-serial',
    `file:${paths.consolePath}`,
  ]
  if (firmware !== 'bios') {
    if (paths.varsPath === undefined)
      throw new TypeError('Cannot start a UEFI VM: no writable OVMF vars copy')
    args.push(
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${secure ? QEMU_FILES.ovmfSecureCode : QEMU_FILES.ovmfCode}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${paths.varsPath}`,
    )
    if (secure) args.push('-global', 'driver=cfi.pflash01,property=secure,value=on')
  }
  const rom =
    options.rom === 'none' ? '' : `${QEMU_FILES.ipxeDir}/${firmware === 'bios' ? 'pxe' : 'efi'}-${nic}.rom`
  const device = nic === 'virtio' ? 'virtio-net-pci' : 'e1000'
  const bootIndex = options.boot.kind === 'network' ? ',bootindex=1' : ''
  args.push(
    '-netdev',
    `tap,id=n0,ifname=${paths.tap},script=no,downscript=no`,
    '-device',
    `${device},netdev=n0,mac=${options.mac},romfile=${rom}${bootIndex}`,
  )
  const boot = options.boot
  if (boot.kind === 'cdrom') {
    args.push('-drive', `file=${boot.iso},media=cdrom,readonly=on`, '-boot', 'd')
  } else if (boot.kind === 'kernel') {
    args.push('-kernel', boot.kernel, '-initrd', boot.initrd, '-append', boot.append)
  } else {
    args.push('-boot', 'n')
  }
  args.push(...(options.extraArgs ?? []))
  return args
}

/** Starts a VM whose NIC is on the net's bridge. The QEMU process is tracked by the net. */
export async function startVm(net: TestNet, options: VmOptions): Promise<Vm> {
  const n = tapCounters.get(net) ?? 0
  tapCounters.set(net, n + 1)
  const tap = `tap${n}`
  const dir = await mkdtemp(join(tmpdir(), 'hl-vm-'))
  const consolePath = join(dir, 'console.log')
  let varsPath: string | undefined
  try {
    if ((options.firmware ?? 'uefi') !== 'bios') {
      varsPath = join(dir, 'OVMF_VARS.fd')
      const secure = options.firmware === 'uefi-secure'
      await copyFile(secure ? QEMU_FILES.ovmfSecureVars : QEMU_FILES.ovmfVars, varsPath)
    }
    await sh('ip', ['-n', net.switchNs, 'tuntap', 'add', tap, 'mode', 'tap'])
    await sh('ip', ['-n', net.switchNs, 'link', 'set', tap, 'master', 'br0'])
    await sh('ip', ['-n', net.switchNs, 'link', 'set', tap, 'up'])
  } catch (cause) {
    await rm(dir, { recursive: true, force: true })
    throw cause
  }
  const args = qemuArgs(options, { tap, consolePath, ...(varsPath === undefined ? {} : { varsPath }) })
  let proc: NsProcess
  try {
    proc = net.spawnIn(net.switchNs, ['qemu-system-x86_64', ...args])
  } catch (cause) {
    await rm(dir, { recursive: true, force: true })
    throw cause
  }

  const consoleText = async (): Promise<string> => readFile(consolePath, 'utf8').catch(() => '')
  const tail = async (): Promise<string> => {
    const lines = (await consoleText()).replace(/\r/g, '').split('\n')
    return lines.slice(-TAIL_LINES).join('\n')
  }
  let stopped: Promise<void> | undefined
  let ended: number | string | undefined
  void proc.exited.then((code) => {
    ended = code
  })

  return {
    pid: proc.pid,
    mac: options.mac,
    tap,
    consolePath,
    args,
    exited: proc.exited,
    console: consoleText,
    async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const text = (await consoleText()).replace(/\r/g, '')
        const line = text.split('\n').find((l) => pattern.test(l))
        if (line !== undefined) return line
        if (ended !== undefined || Date.now() > deadline) {
          const why =
            ended !== undefined ? `QEMU exited (${ended}) first` : `no such line after ${timeoutMs} ms`
          const stderr = proc.output().trim()
          throw new Error(
            `Cannot find console line ${pattern} on VM ${options.mac}: ${why}\n` +
              `--- last ${TAIL_LINES} console lines ---\n${await tail()}\n--- end of console ---` +
              (stderr === '' ? '' : `\n--- qemu stderr ---\n${stderr.slice(-2000)}`),
          )
        }
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await proc.kill('SIGTERM')
        await sh('ip', ['-n', net.switchNs, 'link', 'del', tap]).catch(() => undefined)
        await rm(dir, { recursive: true, force: true })
      })()
      return stopped
    },
  }
}
