/**
 * Boot files served beside the installer ISO's tree:
 *
 * - `uefi/mmx64.efi`: shim's MokManager, which shim loads from the folder it came from when a key
 *   must be enrolled (Secure Boot). Fedora's ISO has it at `EFI/BOOT/mmx64.efi`: lorax copies
 *   `mm<arch>.efi` into `EFI/BOOT` beside `BOOT<ARCH>.EFI` (weldr/lorax,
 *   share/templates.d/99-generic/efi.tmpl, `install boot/efi/EFI/*\/mm${efiarch64|lower}.efi
 *   ${EFIBOOTDIR}/`).
 * - `bios/undionly.kpxe`: iPXE for BIOS clients without iPXE (the DHCP decision's row 4), which
 *   chains to `boot.ipxe` over HTTP. The controller installs no packages, so it is read from a
 *   folder: `ipxeDir` (the CLI), else `HOMELAB_IPXE_DIR`, else `.cache/ipxe/` beside homelab.yaml.
 *   Debian's `ipxe` package ships it as /usr/lib/ipxe/undionly.kpxe. When it is missing, the run
 *   warns at the start if a machine's firmware hint is `bios`, and warns once per client that asks
 *   for it; it never fails silently.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Machine } from '../../core/config/schema.ts'
import type { BootEvent } from '../pxe/events.ts'
import { DirectorySource, type FileSource, type Requester, type ServedFile } from '../pxe/files.ts'

/** shim's MokManager: served path, and where Fedora's ISO has it. */
export const MOK_MANAGER = { served: 'uefi/mmx64.efi', iso: 'EFI/BOOT/mmx64.efi' } as const

/** iPXE for BIOS PXE clients: served path, and its file name in the iPXE folder. */
export const UNDIONLY = { served: 'bios/undionly.kpxe', file: 'undionly.kpxe' } as const

/** Where undionly.kpxe is read from: the option, else HOMELAB_IPXE_DIR, else .cache/ipxe beside homelab.yaml. */
export function ipxeDirOf(
  ipxeDir: string | undefined,
  configDir: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return ipxeDir ?? env.HOMELAB_IPXE_DIR ?? join(configDir, '.cache', 'ipxe')
}

/** How to get the file, for the warnings. */
export function undionlyFix(path: string): string {
  return `copy iPXE's undionly.kpxe to ${path} (Debian's ipxe package ships /usr/lib/ipxe/undionly.kpxe: \`apt-get download ipxe && dpkg -x ipxe_*.deb ipxe && cp ipxe/usr/lib/ipxe/undionly.kpxe ${path}\`), or set HOMELAB_IPXE_DIR to a folder holding it`
}

/**
 * Serves `bios/undionly.kpxe` from the iPXE folder. A request while the file is missing answers
 * "not found" as before, plus one 'pxe.warning' per client naming the file and the fix.
 */
export class UndionlySource implements FileSource {
  private readonly dir: string
  private readonly warn: (event: BootEvent) => void
  private readonly warned = new Set<string>()
  constructor(dir: string, warn: (event: BootEvent) => void) {
    this.dir = dir
    this.warn = warn
  }

  async open(path: string, requester: Requester): Promise<ServedFile | undefined> {
    if (path !== UNDIONLY.served) return undefined
    const file = await this._open()
    if (file === undefined && !this.warned.has(requester.ip)) {
      this.warned.add(requester.ip)
      const who = requester.machine === undefined ? requester.ip : `${requester.machine} (${requester.ip})`
      this.warn({
        type: 'pxe.warning',
        service: 'metal',
        message: `Cannot serve ${UNDIONLY.served} to ${who}, a BIOS PXE client: ${join(this.dir, UNDIONLY.file)} does not exist; ${undionlyFix(join(this.dir, UNDIONLY.file))}`,
      })
    }
    return file
  }

  private async _open(): Promise<ServedFile | undefined> {
    try {
      return await new DirectorySource(this.dir).open(UNDIONLY.file)
    } catch {
      return undefined // the folder itself is missing
    }
  }
}

/** The start-of-run warning when machines hinted `bios` would ask for a missing undionly.kpxe. */
export async function checkUndionly(dir: string, targets: readonly Machine[]): Promise<string | undefined> {
  const bios = targets.filter((m) => m.firmware === 'bios').map((m) => m.name)
  if (bios.length === 0) return undefined
  const path = join(dir, UNDIONLY.file)
  const present = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  )
  if (present) return undefined
  return `${path} does not exist, so ${bios.join(', ')} (firmware: bios) cannot load iPXE from ${UNDIONLY.served}; ${undionlyFix(path)}`
}
