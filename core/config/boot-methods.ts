/**
 * Which boot path each kind of firmware (machines[].firmware) takes. One table, shown by
 * `homelab validate` and `homelab plan` and documented in docs/metal.md; the PXE server's DHCP
 * decision table (metal/pxe/boot-decision.ts) implements it.
 */
import type { Machine } from './schema.ts'

export type Firmware = NonNullable<Machine['firmware']>

export interface BootMethod {
  readonly firmware: Firmware
  readonly summary: string
}

export const BOOT_METHODS: Readonly<Record<Firmware, BootMethod>> = {
  uefi: {
    firmware: 'uefi',
    summary: 'UEFI PXE: shim and GRUB over TFTP, kernel and initrd over HTTP',
  },
  'uefi-http': {
    firmware: 'uefi-http',
    summary: 'UEFI HTTP boot: shim, GRUB, kernel and initrd over HTTP',
  },
  bios: {
    firmware: 'bios',
    summary: 'legacy BIOS PXE: iPXE (undionly.kpxe) over TFTP, then boot.ipxe, kernel and initrd over HTTP',
  },
}

export function bootMethodOf(machine: Pick<Machine, 'firmware'>): BootMethod {
  return BOOT_METHODS[machine.firmware ?? 'uefi']
}
