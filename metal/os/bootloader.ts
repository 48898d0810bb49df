/**
 * Boot loader configs served to netbooting machines. One GRUB config for everyone:
 * it builds the machine's own kickstart URL from its MAC (GRUB's ${net_default_mac}),
 * and loads kernel and initrd over HTTP from the ISO served in place. iPXE clients get
 * the same over HTTP from an iPXE script (${net0/mac}).
 */
import { installTreeUrl } from './kickstart.ts'

/** Paths inside the install tree (Fedora's layout, also the test OS's). */
export const TREE = {
  kernel: 'images/pxeboot/vmlinuz',
  initrd: 'images/pxeboot/initrd.img',
  shim: 'EFI/BOOT/BOOTX64.EFI',
  grub: 'EFI/BOOT/grubx64.efi',
} as const

/**
 * Where GRUB looks for its config: Debian's netboot GRUB uses the prefix /grub,
 * Fedora's grubx64.efi reads grub.cfg beside itself (uefi/), some builds the TFTP root.
 */
export const GRUB_CONFIG_PATHS = ['grub/grub.cfg', 'uefi/grub.cfg', 'grub.cfg'] as const

export interface BootloaderContext {
  readonly server: string
  /** Extra kernel arguments (e.g. a serial console for the lab). */
  readonly kernelArgs?: string
}

/** GRUB's and iPXE's own variables, expanded by the boot loader, not by us. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a GRUB variable
const GRUB_MAC = '${net_default_mac}'
// biome-ignore lint/suspicious/noTemplateCurlyInString: an iPXE variable
const IPXE_MAC = '${net0/mac}'

function kernelArgs(server: string, macVariable: string, extra: string | undefined): string {
  const tree = installTreeUrl(server)
  return [`inst.repo=${tree}`, `inst.ks=http://${server}/ks/${macVariable}.ks`, 'ip=dhcp', extra ?? '']
    .filter(Boolean)
    .join(' ')
}

export function renderGrubConfig(ctx: BootloaderContext): string {
  // Kernel and initrd over HTTP when this GRUB has the http module (Fedora's does); GRUB
  // builds without it (Debian's signed netboot image) fall back to TFTP, which serves the
  // same file namespace. The kickstart is always fetched over HTTP by the installer.
  const host = ctx.server.split(':')[0] ?? ctx.server
  return [
    '# homelab: GRUB config for netbooting machines; rendered, do not edit',
    'set timeout=1',
    'set default=0',
    `if test -e (http,${ctx.server})/os/${TREE.kernel}; then`,
    `  set homelab_tree=(http,${ctx.server})/os`,
    'else',
    `  set homelab_tree=(tftp,${host})/os`,
    'fi',
    "menuentry 'Install (homelab)' {",
    `  linux $homelab_tree/${TREE.kernel} ${kernelArgs(ctx.server, GRUB_MAC, ctx.kernelArgs)}`,
    `  initrd $homelab_tree/${TREE.initrd}`,
    '}',
    '',
  ].join('\n')
}

export function renderIpxeScript(ctx: BootloaderContext): string {
  const tree = installTreeUrl(ctx.server)
  return [
    '#!ipxe',
    '# homelab: iPXE script for netbooting machines; rendered, do not edit',
    `kernel ${tree}/${TREE.kernel} initrd=initrd.img ${kernelArgs(ctx.server, IPXE_MAC, ctx.kernelArgs)}`,
    `initrd --name initrd.img ${tree}/${TREE.initrd}`,
    'boot',
    '',
  ].join('\n')
}
