/**
 * The Debian packages the homelab test OS is made from. They are fetched with
 * `apt-get download` and unpacked with `dpkg -x` (never installed): see fetch.ts.
 *
 * The kernel package is not named here: it is whatever `linux-image-amd64` (the
 * meta package) depends on today, like linux-image-6.1.0-56-amd64, resolved at fetch time.
 */

export interface TestOsPackage {
  /** Debian package name. */
  readonly name: string
  /** Why the test OS needs it. */
  readonly why: string
}

/** The meta package whose dependency names the current kernel package. */
export const KERNEL_META_PACKAGE = 'linux-image-amd64'
/** The kernel package name pattern (the meta package's dependency). */
export const KERNEL_PACKAGE = /^linux-image-\d[\w.+-]*-amd64$/

export const TESTOS_PACKAGES: readonly TestOsPackage[] = [
  {
    name: 'shim-signed',
    why: 'EFI/BOOT/BOOTX64.EFI: the Microsoft-signed first-stage loader (shimx64.efi.signed)',
  },
  {
    name: 'grub-efi-amd64-signed',
    why: 'EFI/BOOT/grubx64.efi of the Secure Boot flavour: the Debian-signed GRUB netboot image (grubnetx64.efi.signed)',
  },
  {
    name: 'shim-helpers-amd64-signed',
    why: "EFI/BOOT/mmx64.efi: shim's Microsoft-signed MokManager, which shim loads beside itself",
  },
  {
    name: 'grub-efi-amd64-bin',
    why: 'the GRUB modules (efinet, tftp, http, linux, ...) for the Fedora-like netboot GRUB made with grub-mkimage',
  },
  {
    name: 'grub-common',
    why: 'grub-mkimage, run on the build host (its libraries come with qemu-system-x86, which the lab needs)',
  },
  { name: 'busybox-static', why: 'the initramfs userland: sh, udhcpc, wget, ip, insmod, mkdosfs' },
  {
    name: 'efibootmgr',
    why: "writes the installed system's UEFI boot entry first in BootOrder, like Anaconda's `efibootmgr -c`",
  },
  { name: 'libefivar1', why: 'efibootmgr: libefivar.so.1' },
  { name: 'libefiboot1', why: 'efibootmgr: libefiboot.so.1' },
  {
    name: 'dropbear-bin',
    why: 'the SSH server started once the kickstart is applied (dropbear, dropbearkey)',
  },
  // dropbear is dynamically linked: these carry the libraries it needs (resolved from DT_NEEDED).
  { name: 'libc6', why: 'dropbear: libc.so.6 and the dynamic loader' },
  { name: 'libcrypt1', why: 'dropbear: libcrypt.so.1' },
  { name: 'libtomcrypt1', why: 'dropbear: libtomcrypt.so.1' },
  { name: 'libtommath1', why: 'dropbear: libtommath.so.1' },
  { name: 'libgmp10', why: 'libtomcrypt: libgmp.so.10' },
  { name: 'zlib1g', why: 'dropbear: libz.so.1' },
]

/** Files taken from the packages (paths inside the unpacked package). */
export const PACKAGE_FILES = {
  shim: { pkg: 'shim-signed', path: 'usr/lib/shim/shimx64.efi.signed' },
  mokManager: { pkg: 'shim-helpers-amd64-signed', path: 'usr/lib/shim/mmx64.efi.signed' },
  grub: { pkg: 'grub-efi-amd64-signed', path: 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed' },
  grubModules: { pkg: 'grub-efi-amd64-bin', path: 'usr/lib/grub/x86_64-efi' },
  grubMkimage: { pkg: 'grub-common', path: 'usr/bin/grub-mkimage' },
  efibootmgr: { pkg: 'efibootmgr', path: 'bin/efibootmgr' },
  busybox: { pkg: 'busybox-static', path: 'bin/busybox' },
  dropbear: { pkg: 'dropbear-bin', path: 'usr/sbin/dropbear' },
  dropbearkey: { pkg: 'dropbear-bin', path: 'usr/bin/dropbearkey' },
} as const

/** Library packages searched (in this order) for the sonames dropbear and efibootmgr need. */
export const LIBRARY_PACKAGES: readonly string[] = [
  'libc6',
  'libefivar1',
  'libefiboot1',
  'libcrypt1',
  'libtomcrypt1',
  'libtommath1',
  'libgmp10',
  'zlib1g',
]

/** Folders inside a library package that hold shared libraries (Debian multiarch, bookworm layout). */
export const LIBRARY_DIRS: readonly string[] = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu']

/**
 * Kernel modules the test OS loads, by name; their dependencies (read from each module's
 * `.modinfo`) are added and the whole set is loaded in dependency order.
 */
export const KERNEL_MODULES: readonly string[] = [
  'virtio_pci',
  'virtio_net',
  // the disk the test OS installs to, its ESP (FAT, code page 437, ascii names) and the UEFI variables
  'virtio_blk',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'efivarfs',
]

/**
 * The Fedora-like netboot GRUB (EFI/BOOT/grubx64.efi of the default ISO): built with grub-mkimage
 * from Debian's modules. Like Fedora's, it has `http` built in, so grub.cfg can load kernel and
 * initrd from `(http,SERVER)`, and it reads its config beside itself (an empty prefix: the folder
 * of the boot file, `uefi/grub.cfg` when served as `uefi/grubx64.efi`).
 */
export const FEDORA_LIKE_GRUB_MODULES: readonly string[] = [
  'efinet',
  'net',
  'tftp',
  'http',
  'linux',
  'normal',
  'configfile',
  'echo',
  'test',
  'sleep',
  'efi_gop',
  'efi_uga',
  'all_video',
  'gzio',
  'fat',
  'part_gpt',
  'part_msdos',
  'iso9660',
  'chain',
  'search',
  'reboot',
  'halt',
]
