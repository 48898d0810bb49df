/**
 * Boot loader configs served to netbooting machines. Each GRUB config builds the machine's own
 * kickstart URL from its MAC (GRUB's ${net_default_mac}) and loads kernel and initrd from the ISO
 * served in place, over the transport the GRUB build that reads that path has (GRUB_CONFIGS).
 * iPXE clients get the same over HTTP from an iPXE script, with the MAC of the NIC iPXE booted
 * from (${netX/mac}). docs/metal.md gives the upstream source of each choice.
 */
import { installTreeUrl } from './kickstart.ts'

/** Paths inside the install tree (Fedora's layout, also the test OS's). */
export const TREE = {
  kernel: 'images/pxeboot/vmlinuz',
  initrd: 'images/pxeboot/initrd.img',
  shim: 'EFI/BOOT/BOOTX64.EFI',
  grub: 'EFI/BOOT/grubx64.efi',
} as const

/** How a GRUB build fetches kernel and initrd: its `http` module, or TFTP. */
export type GrubTransport = 'http' | 'tftp'

export interface GrubConfigPath {
  /** Where this GRUB build looks for its config (relative to the TFTP and HTTP roots). */
  readonly path: string
  /** The GRUB build that reads it. */
  readonly reader: string
  readonly transport: GrubTransport
}

/**
 * Which GRUB reads which config path, and how it loads kernel and initrd. Fedora's GRUB (the
 * DVD's EFI/BOOT/grubx64.efi, built like gcdx64.efi) reads grub.cfg beside itself (`uefi/`, or the
 * TFTP root) and has the `http` module. Debian's signed netboot GRUB (grubnetx64.efi, prefix
 * /grub) reads `grub/grub.cfg`; it has no `http` module (bookworm's 2.06-13+deb12u2, tried in the lab:
 * it looks for http.mod over TFTP and stops with "disk `http,…' not found"), so that path uses TFTP.
 *
 * The transport is chosen here, never by GRUB at boot: `test -e` on a network device is always
 * false (GRUB's net filesystem lists no directory), so it cannot tell whether HTTP works.
 */
export const GRUB_CONFIGS: readonly GrubConfigPath[] = [
  { path: 'uefi/grub.cfg', reader: "Fedora's grubx64.efi (shim's folder)", transport: 'http' },
  { path: 'grub.cfg', reader: "Fedora's grubx64.efi / gcdx64.efi (TFTP root)", transport: 'http' },
  { path: 'grub/grub.cfg', reader: "Debian's signed grubnetx64.efi (prefix /grub)", transport: 'tftp' },
]

/** Every path a GRUB config is served at. */
export const GRUB_CONFIG_PATHS: readonly string[] = GRUB_CONFIGS.map((c) => c.path)

export interface BootloaderContext {
  /** The HTTP server as `host` or `host:port`. */
  readonly server: string
  /** Extra kernel arguments (e.g. a serial console for the lab). */
  readonly kernelArgs?: string
}

/** GRUB's and iPXE's own variables, expanded by the boot loader, not by us. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a GRUB variable
const GRUB_MAC = '${net_default_mac}'
// biome-ignore lint/suspicious/noTemplateCurlyInString: an iPXE variable (the NIC iPXE booted from)
const IPXE_MAC = '${netX/mac}'

function kernelArgs(server: string, macVariable: string, extra: string | undefined): string {
  const tree = installTreeUrl(server)
  return [`inst.repo=${tree}`, `inst.ks=http://${server}/ks/${macVariable}.ks`, 'ip=dhcp', extra ?? '']
    .filter(Boolean)
    .join(' ')
}

/** The install tree as a GRUB device path: `(http,host:port)/os`, or `(tftp,host)/os`. */
export function grubTree(server: string, transport: GrubTransport): string {
  const host = transport === 'tftp' ? (server.split(':')[0] ?? server) : server
  return `(${transport},${host})/os`
}

/**
 * The GRUB config for one transport: kernel and initrd loaded from it unconditionally. The server
 * serves configs with renderBootConfigs(), which takes each path's transport from GRUB_CONFIGS.
 */
export function renderGrubConfig(ctx: BootloaderContext, transport: GrubTransport): string {
  const tree = grubTree(ctx.server, transport)
  return [
    `# homelab: GRUB config for netbooting machines (kernel and initrd over ${transport}); rendered, do not edit`,
    'set timeout=1',
    'set default=0',
    "menuentry 'Install (homelab)' {",
    `  linux ${tree}/${TREE.kernel} ${kernelArgs(ctx.server, GRUB_MAC, ctx.kernelArgs)}`,
    `  initrd ${tree}/${TREE.initrd}`,
    '}',
    '',
  ].join('\n')
}

/** Every GRUB config by the path it is served at (GRUB_CONFIGS). */
export function renderGrubConfigs(ctx: BootloaderContext): Map<string, string> {
  return new Map(GRUB_CONFIGS.map((c) => [c.path, renderGrubConfig(ctx, c.transport)]))
}

/** The iPXE script's path (boot-decision.ts row 1 sends iPXE clients here). */
export const IPXE_SCRIPT_PATH = 'boot.ipxe'

/** Every boot loader config the server serves, by path: the GRUB configs and the iPXE script. */
export function renderBootConfigs(ctx: BootloaderContext): Map<string, string> {
  const files = renderGrubConfigs(ctx)
  files.set(IPXE_SCRIPT_PATH, renderIpxeScript(ctx))
  return files
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
