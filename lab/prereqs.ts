/**
 * What the lab needs on the controller, and installing it on Debian.
 *
 * Checked: the emulator, the UEFI firmware, the NICs' iPXE ROMs, dnsmasq (the home router),
 * xorriso and cpio (the test OS image), and ip (namespaces). When something is missing on a
 * Debian machine and we are root, the missing packages are installed with apt-get (after
 * `apt-get update`), saying so first; anywhere else the error lists what to install.
 */
import { execFile } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { QEMU_FILES } from './qemu-args.ts'

const execFileP = promisify(execFile)

export interface Prerequisite {
  /** What it is, for messages. */
  readonly what: string
  /** An executable on PATH (or in /usr/sbin, /sbin), or an absolute file path. */
  readonly need: string
  /** The Debian package that provides it. */
  readonly package: string
}

export const PREREQUISITES: readonly Prerequisite[] = [
  { what: 'QEMU', need: 'qemu-system-x86_64', package: 'qemu-system-x86' },
  { what: 'UEFI firmware', need: QEMU_FILES.ovmfCode, package: 'ovmf' },
  { what: 'UEFI firmware vars', need: QEMU_FILES.ovmfVars, package: 'ovmf' },
  { what: 'iPXE ROM (UEFI)', need: `${QEMU_FILES.ipxeDir}/efi-virtio.rom`, package: 'ipxe-qemu' },
  { what: 'iPXE ROM (BIOS)', need: `${QEMU_FILES.ipxeDir}/pxe-virtio.rom`, package: 'ipxe-qemu' },
  { what: 'dnsmasq', need: 'dnsmasq', package: 'dnsmasq-base' },
  { what: 'xorriso', need: 'xorriso', package: 'xorriso' },
  { what: 'ip', need: 'ip', package: 'iproute2' },
  { what: 'cpio', need: 'cpio', package: 'cpio' },
]

/** The install command, in the order the packages are listed above. */
export function aptInstallArgs(packages: readonly string[]): string[] {
  return ['install', '-y', '--no-install-recommends', ...packages]
}

export class PrerequisiteError extends Error {
  readonly code = 'HOMELAB_LAB_PREREQUISITES'
  override name = 'PrerequisiteError'
}

/** Seams: the real system by default, stand-ins in tests. */
export interface PrereqSystem {
  has(need: string): Promise<boolean>
  isDebian(): Promise<boolean>
  isRoot(): boolean
  run(cmd: string, args: readonly string[]): Promise<void>
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

async function canAccess(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  )
}

export const realSystem: PrereqSystem = {
  async has(need) {
    if (need.startsWith('/')) return canAccess(need, constants.R_OK)
    const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN]
    for (const dir of dirs) if (await canAccess(join(dir, need), constants.X_OK)) return true
    return false
  },
  isDebian: () => canAccess('/etc/debian_version', constants.R_OK),
  isRoot: () => process.getuid?.() === 0,
  async run(cmd, args) {
    try {
      await execFileP(cmd, [...args], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        maxBuffer: 64 * 1024 * 1024,
      })
    } catch (cause) {
      const err = cause as Error & { stderr?: string; code?: number | string }
      const tail = (err.stderr ?? '').trim().split('\n').slice(-10).join('\n')
      throw new Error(`Command failed: ${cmd} ${args.join(' ')} (exit ${err.code}): ${tail || err.message}`, {
        cause,
      })
    }
  },
}

/** The prerequisites that are missing. */
export async function missingPrerequisites(system: PrereqSystem = realSystem): Promise<Prerequisite[]> {
  const missing: Prerequisite[] = []
  for (const p of PREREQUISITES) if (!(await system.has(p.need))) missing.push(p)
  return missing
}

/**
 * Makes sure every prerequisite is there: installs the missing packages on Debian as root,
 * else throws a PrerequisiteError naming each missing piece and the packages to install.
 */
export async function ensurePrerequisites(
  progress: (line: string) => void,
  system: PrereqSystem = realSystem,
): Promise<{ installed: string[] }> {
  const missing = await missingPrerequisites(system)
  if (missing.length === 0) return { installed: [] }
  const packages = [...new Set(missing.map((p) => p.package))]
  const list = missing.map((p) => `${p.what} (${p.need})`).join(', ')
  const debian = await system.isDebian()
  if (!debian || !system.isRoot()) {
    const install = debian
      ? `run as root, or install them: sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`
      : `install them with your package manager (Debian names: ${packages.join(' ')})`
    throw new PrerequisiteError(`Cannot build the lab: missing ${list}: ${install}`)
  }
  progress(`missing ${list}: installing ${packages.join(' ')}`)
  progress('  apt-get update')
  await system.run('apt-get', ['update'])
  const args = aptInstallArgs(packages)
  progress(`  apt-get ${args.join(' ')}`)
  await system.run('apt-get', args)
  const still = await missingPrerequisites(system)
  if (still.length > 0)
    throw new PrerequisiteError(
      `Cannot build the lab: still missing after apt-get install: ${still.map((p) => `${p.what} (${p.need})`).join(', ')}`,
    )
  return { installed: packages }
}
