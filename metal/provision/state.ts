/**
 * What the controller remembers between runs, in the git-ignored .state/ folder:
 * each machine's SSH host key as reported by its installer. A machine whose SSH
 * answers with that key is installed and is never reinstalled by a re-run.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export interface MachineRecord {
  readonly mac: string
  readonly ip: string
  readonly hostKey: string
  readonly installedAt: string
  /**
   * The name the installed system gives the NIC with the machine's MAC, as its kickstart's %post
   * reported it (`POST /report/nic`); absent for machines installed before that report existed.
   */
  readonly nic?: string
}

export interface MetalState {
  readonly machines: Readonly<Record<string, MachineRecord>>
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'machines.json')
}

export async function readState(stateDir: string): Promise<MetalState> {
  const path = statePath(stateDir)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { machines: {} }
    throw new Error(`Cannot read machine state: ${path}`, { cause })
  }
  try {
    const parsed = JSON.parse(text) as MetalState
    if (typeof parsed.machines !== 'object' || parsed.machines === null)
      throw new TypeError('no "machines" object')
    return parsed
  } catch (cause) {
    throw new Error(
      `Cannot read machine state: ${path} is not valid (${(cause as Error).message}); move it away to start over, machines will then be treated as not installed`,
      { cause },
    )
  }
}

/** Writes atomically (temp file, then rename), mode 0600. */
export async function writeState(stateDir: string, state: MetalState): Promise<void> {
  const path = statePath(stateDir)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  await rename(temp, path)
}
