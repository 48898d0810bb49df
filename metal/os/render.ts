/**
 * Every file the PXE server generates, rendered to a folder for reading before anything boots
 * (`homelab render`). The server (metal/provision) and this use the same functions:
 * renderBootConfigs() for the boot loaders, renderKickstart() per machine.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Derived } from '../../core/config/checks.ts'
import type { Config } from '../../core/config/schema.ts'
import { renderBootConfigs } from './bootloader.ts'
import { kickstartPath, renderKickstart } from './kickstart.ts'

export interface RenderOptions {
  readonly config: Config
  readonly derived: Derived
  /** The HTTP server as the machines reach it: `host`, or `host:port` off port 80. */
  readonly server: string
  /** The SSH public key authorised for root (the content of os.sshPublicKey). */
  readonly sshPublicKey: string
  /** Extra kernel arguments for the installer (as `homelab metal --kernel-args`). */
  readonly kernelArgs?: string
}

/** Every generated file by the path it is served at, in path order: boot loader configs, `ks/<mac>.ks`. */
export function renderServedFiles(options: RenderOptions): Map<string, string> {
  const { config, derived, server, sshPublicKey } = options
  const files = renderBootConfigs({
    server,
    ...(options.kernelArgs === undefined ? {} : { kernelArgs: options.kernelArgs }),
  })
  for (const machine of config.machines) {
    files.set(kickstartPath(machine.mac), renderKickstart(machine, { config, derived, server, sshPublicKey }))
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

export class RenderError extends Error {
  readonly code = 'HOMELAB_RENDER'
  override name = 'RenderError'
}

/**
 * Writes the files under `dir` (made if missing) and returns their paths. Refuses a folder that
 * already holds anything unless `force` (then same-named files are replaced, others left alone).
 */
export async function writeServedFiles(
  dir: string,
  files: ReadonlyMap<string, string>,
  options: { readonly force?: boolean } = {},
): Promise<string[]> {
  const present = await readdir(dir).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return []
    throw new RenderError(`Cannot render into ${dir}: ${cause.message}`, { cause })
  })
  if (present.length > 0 && options.force !== true) {
    throw new RenderError(
      `Cannot render into ${dir}: it is not empty (${present.length} entr${present.length === 1 ? 'y' : 'ies'}): choose an empty or new folder, or pass --force to write over it`,
    )
  }
  const written: string[] = []
  for (const [path, content] of files) {
    const target = join(dir, path)
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, content)
    written.push(path)
  }
  return written
}
