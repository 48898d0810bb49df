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
    why: 'EFI/BOOT/grubx64.efi: the Debian-signed GRUB netboot image (grubnetx64.efi.signed)',
  },
  { name: 'busybox-static', why: 'the initramfs userland: sh, udhcpc, wget, ip, insmod' },
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
  grub: { pkg: 'grub-efi-amd64-signed', path: 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed' },
  busybox: { pkg: 'busybox-static', path: 'bin/busybox' },
  dropbear: { pkg: 'dropbear-bin', path: 'usr/sbin/dropbear' },
  dropbearkey: { pkg: 'dropbear-bin', path: 'usr/bin/dropbearkey' },
} as const

/** Library packages searched (in this order) for the sonames dropbear needs. */
export const LIBRARY_PACKAGES: readonly string[] = [
  'libc6',
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
export const KERNEL_MODULES: readonly string[] = ['virtio_pci', 'virtio_net']
