/**
 * The test OS's two GRUBs, and which ISO flavour a run uses.
 *
 * - **fedora-like** (the default ISO, `homelab-testos.iso`): a netboot GRUB made here with
 *   `grub-mkimage` from Debian's grub-efi-amd64-bin modules. Like Fedora's netboot GRUB it has the
 *   `http` module built in, so a grub.cfg can load kernel and initrd from `(http,SERVER)`, and it
 *   reads its config beside itself: built with an empty prefix, GRUB takes the folder of the file it
 *   was booted as (served as `uefi/grubx64.efi`, it asks TFTP for `uefi/grub.cfg-01-<mac>`,
 *   `uefi/grub.cfg-<hex ip>`... then `uefi/grub.cfg`; seen in QEMU). It is unsigned: with Secure Boot
 *   off, shim starts it without checking.
 * - **signed** (`homelab-testos-signed.iso`, for the Secure Boot tests): Debian's signed
 *   `grubnetx64.efi`, which shim verifies. It has no `http` built in: asked for `(http,SERVER)/...`
 *   it fetches `grub/x86_64-efi/http.mod` over TFTP and, even when that is served, fails with
 *   `disk 'http,SERVER' not found` under Secure Boot (seen in QEMU, grub2 2.06-13+deb12u2). It reads
 *   `grub/grub.cfg` (prefix `/grub`) over TFTP.
 */
import { join } from 'node:path'
import { _run, type FetchedPackages } from './fetch.ts'
import { FEDORA_LIKE_GRUB_MODULES, PACKAGE_FILES } from './packages.ts'

export type TestOsGrub = 'fedora-like' | 'signed'

/** The environment variable that picks the ISO flavour `homelab metal` serves for `os.iso: test-os`. */
export const TESTOS_GRUB_ENV = 'HOMELAB_TESTOS_GRUB'

/** The flavour named by HOMELAB_TESTOS_GRUB (`signed` or `fedora-like`, the default). */
export function testOsGrubFromEnv(env: NodeJS.ProcessEnv = process.env): TestOsGrub {
  const value = env[TESTOS_GRUB_ENV]
  if (value === undefined || value === '' || value === 'fedora-like') return 'fedora-like'
  if (value === 'signed') return 'signed'
  throw new TypeError(
    `Cannot pick the test OS GRUB: ${TESTOS_GRUB_ENV}="${value}" is neither "fedora-like" nor "signed"`,
  )
}

/** The grub-mkimage arguments for the Fedora-like netboot GRUB. */
export function fedoraLikeGrubArgs(modulesDir: string, out: string): string[] {
  // -p '': no built-in prefix, so GRUB uses the folder it was loaded from (its config beside it).
  return ['-O', 'x86_64-efi', '-d', modulesDir, '-p', '', '-o', out, ...FEDORA_LIKE_GRUB_MODULES]
}

/** Builds the Fedora-like netboot GRUB into `out` with the unpacked grub-mkimage and modules. */
export async function buildFedoraLikeGrub(
  fetched: Pick<FetchedPackages, 'packages'>,
  out: string,
): Promise<void> {
  const root = (pkg: string): string => {
    const p = fetched.packages[pkg]
    if (p === undefined) throw new Error(`Cannot build the Fedora-like GRUB: package ${pkg} was not fetched`)
    return p.root
  }
  const mkimage = join(root(PACKAGE_FILES.grubMkimage.pkg), PACKAGE_FILES.grubMkimage.path)
  const modules = join(root(PACKAGE_FILES.grubModules.pkg), PACKAGE_FILES.grubModules.path)
  await _run(mkimage, fedoraLikeGrubArgs(modules, out))
}
