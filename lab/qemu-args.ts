/**
 * QEMU command lines for netbooting machines: firmware, NIC with its option ROM, boot
 * source, serial console. Pure: computing them needs no network and starts nothing.
 * Used by the lab's power daemon (lab/power.ts) and by the test harness
 * (tools/qemu.ts).
 */

/** `uefi`: OVMF; `uefi-secure`: OVMF with Secure Boot and Microsoft keys enrolled; `bios`: SeaBIOS. */
export type Firmware = 'uefi' | 'uefi-secure' | 'bios'

export type VmBoot =
  /** Firmware network boot through the NIC's option ROM. */
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
   * The NIC's option ROM:
   * - `ipxe`: efi-<nic>.rom for UEFI, pxe-<nic>.rom for BIOS, from ipxe-qemu, given by path;
   * - `default`: no `romfile=`, QEMU's own choice (Debian: ipxe-qemu's efi-<nic>.rom). SeaBIOS needs
   *   this one: QEMU patches the PCI IDs only of its default ROM, and SeaBIOS skips an iPXE ROM
   *   whose IDs do not match the device (no network boot entry at all);
   * - `none`: leaves UEFI network boot to OVMF's own driver and PXE (as on most real machines).
   * @default 'ipxe'
   */
  readonly rom?: 'ipxe' | 'default' | 'none'
  /**
   * QEMU accelerator. TCG (software emulation) by default: it behaves the same on every machine.
   * A /dev/kvm may exist where KVM does not really work (nested, CPUID features missing).
   * @default DEFAULT_ACCEL (env HOMELAB_QEMU_ACCEL, else 'tcg')
   */
  readonly accel?: 'tcg' | 'kvm'
  /**
   * A raw disk image, attached as a virtio disk (the guest's `vda`). With a disk the NIC gets no
   * `bootindex`: OVMF reorders BootOrder to QEMU's bootindex list on every boot, which would undo
   * an installed system's own entry (real firmware keeps BootOrder as the OS left it).
   */
  readonly disk?: string
  /**
   * What a guest reboot does: `exit` ends QEMU (`-no-reboot`: a clean end-of-test signal), `reset`
   * restarts the machine in the same process, with the same disk and UEFI variables. @default 'exit'
   */
  readonly reboot?: 'exit' | 'reset'
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

/**
 * OVMF's fw_cfg knobs that leave out its PXEv4 boot options and IPv6 networking: UEFI HTTP boot
 * over IPv4 becomes the first network entry, so the machine asks DHCP as an HTTP boot client
 * (arch 16, "HTTPClient"), without first waiting out PXE over IPv6. Debian's OVMF (2022.11) reads
 * them; seen in QEMU: "Start HTTP Boot over IPv4".
 */
export const OVMF_HTTP_BOOT_ARGS: readonly string[] = [
  '-fw_cfg',
  'name=opt/org.tianocore/IPv4PXESupport,string=n',
  '-fw_cfg',
  'name=opt/org.tianocore/IPv6Support,string=n',
]

/** The OVMF vars file to copy (writable) for a firmware, or undefined for SeaBIOS. */
export function ovmfVarsTemplate(firmware: Firmware): string | undefined {
  if (firmware === 'bios') return undefined
  return firmware === 'uefi-secure' ? QEMU_FILES.ovmfSecureVars : QEMU_FILES.ovmfVars
}

/** The QEMU arguments for the options (no networking plumbing needed to compute them). */
export function qemuArgs(
  options: VmOptions,
  paths: { tap: string; consolePath: string; varsPath?: string | undefined },
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
    ...((options.reboot ?? 'exit') === 'exit' ? ['-no-reboot'] : []),
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
  const rom = options.rom ?? 'ipxe'
  const romfile =
    rom === 'default'
      ? ''
      : `,romfile=${rom === 'none' ? '' : `${QEMU_FILES.ipxeDir}/${firmware === 'bios' ? 'pxe' : 'efi'}-${nic}.rom`}`
  const device = nic === 'virtio' ? 'virtio-net-pci' : 'e1000'
  const bootIndex = options.boot.kind === 'network' && options.disk === undefined ? ',bootindex=1' : ''
  args.push(
    '-netdev',
    `tap,id=n0,ifname=${paths.tap},script=no,downscript=no`,
    '-device',
    `${device},netdev=n0,mac=${options.mac}${romfile}${bootIndex}`,
  )
  if (options.disk !== undefined) args.push('-drive', `file=${options.disk},format=raw,if=virtio`)
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
